package sandbox

import (
	"bufio"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// The real node (Config.RealNode): containerd, runc and a real kubelet
// joined to the sandbox's API server next to the kwok nodes. It is labelled
// and tainted so that only pods meant for it (RealNodeToleration and
// RealNodeSelector, or OnRealNode) land there. Only one real node fits on a
// machine at a time: its cgroups, its bridge and its run directory have
// fixed names, and a lock file guards them.
const (
	// RealNodeName is the real node's name.
	RealNodeName = "realnode-0"
	// RealNodeLabel is the real node's label key (value "true") and the key
	// of its NoSchedule taint (value "true").
	RealNodeLabel = "chaosnight.io/real-node"

	// realNodeRunDir holds containerd's state and sockets (unix socket
	// paths are limited to 108 bytes, and a shim's is this directory plus
	// 66), the node's configuration files and the host-local IPAM data.
	// Every process of the node has it on its command line, which is how a
	// sweep finds the leftovers of a killed run.
	realNodeRunDir = "/run/chaosnight-realnode"
	// realNodeLock is held while a real node runs (outside realNodeRunDir,
	// which a sweep empties).
	realNodeLock = "/run/chaosnight-realnode.lock"
	// realNodeBridge is the CNI bridge; realNodeSubnet its /24.
	realNodeBridge  = "chaosnight0"
	realNodeSubnet  = "10.213.0.0/24"
	realNodeGateway = "10.213.0.1" // the bridge's address: the host, seen from the pods
	realNodeNetwork = "chaosnight-realnode"
)

// RealNodeToleration tolerates the real node's taint.
func RealNodeToleration() corev1.Toleration {
	return corev1.Toleration{Key: RealNodeLabel, Operator: corev1.TolerationOpEqual, Value: "true", Effect: corev1.TaintEffectNoSchedule}
}

// RealNodeSelector selects the real node.
func RealNodeSelector() map[string]string { return map[string]string{RealNodeLabel: "true"} }

// OnRealNode makes a pod spec land on the real node (and only there).
func OnRealNode(spec *corev1.PodSpec) {
	spec.Tolerations = append(spec.Tolerations, RealNodeToleration())
	if spec.NodeSelector == nil {
		spec.NodeSelector = map[string]string{}
	}
	for k, v := range RealNodeSelector() {
		spec.NodeSelector[k] = v
	}
}

// RealNodeUnavailableError says why this machine cannot run the real node
// (not Linux, not root). Start returns it wrapped; check it with errors.As.
type RealNodeUnavailableError struct{ Reason string }

func (e *RealNodeUnavailableError) Error() string {
	return "the real node cannot run here: " + e.Reason
}

// RealNodeSupported says why this machine cannot run the real node (a
// *RealNodeUnavailableError), or nil: what no configuration can fix (the
// binaries and the lock are checked by Start).
func RealNodeSupported() error { return realNodeSupported() }

// realNodeSupported checks what no configuration can fix.
func realNodeSupported() error {
	if err := realNodeSupportedOn(runtime.GOOS, os.Geteuid()); err != nil {
		return err
	}
	if _, err := os.Stat("/sys/fs/cgroup"); err != nil {
		return &RealNodeUnavailableError{Reason: "no /sys/fs/cgroup: " + err.Error()}
	}
	return nil
}

func realNodeSupportedOn(goos string, euid int) error {
	if goos != "linux" {
		return &RealNodeUnavailableError{Reason: "it needs Linux (cgroups, namespaces, overlayfs), this is " + goos}
	}
	if euid != 0 {
		return &RealNodeUnavailableError{Reason: fmt.Sprintf("it needs root (containerd and the kubelet create cgroups, mounts and a network bridge), this runs as uid %d", euid)}
	}
	return nil
}

// realNode is the running node's bookkeeping.
type realNode struct {
	dir        string // <sandbox>/node: containerd's root, kubelet's root, CNI config, pod logs
	tools      string // the real-node binaries
	nodeIP     string
	unlock     func()     // releases realNodeLock
	images     chan error // the image build and import, done in the background
	kubeconfig string     // the kubelet's
	stopped    bool
}

// realNodeSetup takes the machine-wide lock, sweeps what a killed run left
// behind and checks the node's binaries. It runs before anything starts.
func realNodeSetup(ctx context.Context, cfg *Config) (*realNode, error) {
	if err := realNodeSupported(); err != nil {
		return nil, err
	}
	if err := checkRealNodeTools(cfg.RealNodeToolsDir, DefaultRealNodeVersions()); err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, &RealNodeUnavailableError{Reason: "the `ip` command (iproute2) is needed to remove the node's bridge: " + err.Error()}
	}
	unlock, err := lockFileWait(ctx, realNodeLock)
	if err != nil {
		return nil, fmt.Errorf("real node: another sandbox runs a real node on this machine (lock %s): %w", realNodeLock, err)
	}
	n := &realNode{tools: cfg.RealNodeToolsDir, unlock: unlock}
	prev, err := os.ReadFile(filepath.Join(realNodeRunDir, "dir"))
	if err != nil {
		// No record of ours: pod cgroups then belong to someone else's
		// kubelet, and the sweep would kill its pods.
		for _, h := range cgroupHierarchies() {
			for _, r := range cgroupRoots {
				if _, err := os.Stat(filepath.Join(h, r)); err == nil {
					unlock()
					return nil, &RealNodeUnavailableError{Reason: fmt.Sprintf("%s exists but no real node of the sandbox left it (no %s/dir): another kubelet or containerd seems to run on this machine", filepath.Join(h, r), realNodeRunDir)}
				}
			}
		}
	}
	_ = sweepRealNode(strings.TrimSpace(string(prev)), cfg.Log)
	if n.nodeIP, err = hostIP(); err != nil {
		unlock()
		return nil, err
	}
	return n, nil
}

// SweepRealNode removes what a killed real node left on this machine
// (see sweepRealNode), unless a running sandbox's real node holds the lock,
// in which case it does nothing. `sandbox down` calls it; Start does the same
// on its own before a real node starts.
func SweepRealNode(log io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	unlock, err := lockFileWait(ctx, realNodeLock)
	if err != nil {
		return nil // a live real node: not ours to sweep
	}
	defer unlock()
	prev, err := os.ReadFile(filepath.Join(realNodeRunDir, "dir"))
	if err != nil {
		return nil // nothing recorded: nothing left behind
	}
	return sweepRealNode(strings.TrimSpace(string(prev)), log)
}

// lockFileWait takes an exclusive lock, waiting at most until ctx ends.
func lockFileWait(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); _ = f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, context.Cause(ctx)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// hostIP is the address the kubelet registers and serves on: the kubelet
// refuses a loopback node IP, so it is the first global IPv4 address.
func hostIP() (string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return "", fmt.Errorf("real node: list interfaces: %w", err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 || i.Name == realNodeBridge || strings.HasPrefix(i.Name, "veth") {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && ipn.IP.IsGlobalUnicast() {
				return ipn.IP.String(), nil
			}
		}
	}
	return "", &RealNodeUnavailableError{Reason: "no non-loopback IPv4 address for the kubelet to register (it refuses 127.0.0.1)"}
}

// apiServerArgs are the flags the API server needs for a real kubelet
// besides the Node authorizer (start sets --authorization-mode=Node,RBAC):
// NodeRestriction for the kubelet's own identity,
// client certificates (the kubelet's is system:node:<name>), and a client
// certificate of its own so exec, logs and port-forward reach the kubelet.
func (n *realNode) apiServerArgs(p *pki) []string {
	return []string{
		"--enable-admission-plugins=NodeRestriction",
		"--client-ca-file=" + p.CAFile,
		"--kubelet-client-certificate=" + filepath.Join(n.dir, "pki", "apiserver-kubelet-client.crt"),
		"--kubelet-client-key=" + filepath.Join(n.dir, "pki", "apiserver-kubelet-client.key"),
	}
}

// writeFiles writes the node's certificates, containerd's and the
// kubelet's configuration and the CNI network.
func (n *realNode) writeFiles(p *pki, apiServerURL string, kubeletPort, healthzPort int) error {
	pkiDir := filepath.Join(n.dir, "pki")
	for _, d := range []string{pkiDir, filepath.Join(n.dir, "cni"), filepath.Join(n.dir, "images"), realNodeRunDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("real node: create %s: %w", d, err)
		}
	}
	// The sweep of a killed run finds the sandbox directory here.
	if err := os.WriteFile(filepath.Join(realNodeRunDir, "dir"), []byte(filepath.Dir(n.dir)), 0o644); err != nil {
		return fmt.Errorf("real node: %w", err)
	}
	// The bridge plugin turns IP forwarding on; Stop puts back what was.
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); err == nil {
		if _, err := os.Stat(filepath.Join(realNodeRunDir, "ip_forward")); errors.Is(err, os.ErrNotExist) {
			_ = os.WriteFile(filepath.Join(realNodeRunDir, "ip_forward"), b, 0o644)
		}
	}
	certs := []struct {
		spec certSpec
		name string
	}{
		{certSpec{serial: 10, cn: "system:node:" + RealNodeName, orgs: []string{"system:nodes"}, usage: x509.ExtKeyUsageClientAuth}, "kubelet-client"},
		{certSpec{serial: 11, cn: RealNodeName, ips: []net.IP{net.ParseIP(n.nodeIP), net.ParseIP("127.0.0.1")}, dns: []string{RealNodeName}, usage: x509.ExtKeyUsageServerAuth}, "kubelet-serving"},
		// system:masters: the kubelet's webhook authorizer lets the API
		// server proxy exec, logs and port-forward.
		{certSpec{serial: 12, cn: "kube-apiserver-kubelet-client", orgs: []string{"system:masters"}, usage: x509.ExtKeyUsageClientAuth}, "apiserver-kubelet-client"},
	}
	for _, c := range certs {
		if err := p.issue(c.spec, filepath.Join(pkiDir, c.name+".crt"), filepath.Join(pkiDir, c.name+".key")); err != nil {
			return fmt.Errorf("real node: %w", err)
		}
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["sandbox"] = &clientcmdapi.Cluster{Server: apiServerURL, CertificateAuthority: p.CAFile}
	kc.AuthInfos["kubelet"] = &clientcmdapi.AuthInfo{
		ClientCertificate: filepath.Join(pkiDir, "kubelet-client.crt"),
		ClientKey:         filepath.Join(pkiDir, "kubelet-client.key"),
	}
	kc.Contexts["sandbox"] = &clientcmdapi.Context{Cluster: "sandbox", AuthInfo: "kubelet"}
	kc.CurrentContext = "sandbox"
	n.kubeconfig = filepath.Join(n.dir, "kubelet.kubeconfig")
	if err := clientcmd.WriteToFile(*kc, n.kubeconfig); err != nil {
		return fmt.Errorf("real node: write kubelet kubeconfig: %w", err)
	}
	files := map[string]string{
		filepath.Join(realNodeRunDir, "containerd.toml"):               n.containerdConfig(),
		filepath.Join(realNodeRunDir, "kubelet.yaml"):                  n.kubeletConfig(p, kubeletPort, healthzPort),
		filepath.Join(n.dir, "cni", "10-chaosnight-realnode.conflist"): cniConfig(),
	}
	for path, content := range files {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return fmt.Errorf("real node: write %s: %w", path, err)
		}
	}
	return nil
}

func (n *realNode) sock() string { return filepath.Join(realNodeRunDir, "containerd.sock") }

// containerdConfig: everything under the sandbox or realNodeRunDir, nothing
// read from /etc. restrict_oom_score_adj is mandatory where the bounding
// set lacks CAP_SYS_RESOURCE: without it runc cannot give a container a
// negative oom_score_adj and fails with "can't get final child's PID from
// pipe: EOF". NRI is off (it would listen on /var/run/nri); network
// namespaces are mounted under the state directory, not /run/netns.
func (n *realNode) containerdConfig() string {
	root := filepath.Join(n.dir, "containerd")
	state := filepath.Join(realNodeRunDir, "state")
	return fmt.Sprintf(`version = 3
root = %[1]q
state = %[2]q
imports = []
oom_score = 0

[grpc]
  address = %[3]q
[ttrpc]
  address = %[4]q
[debug]
  level = "warn"
[metrics]
  address = ""

[plugins]
  [plugins.'io.containerd.nri.v1.nri']
    disable = true
    socket_path = %[5]q
  [plugins.'io.containerd.internal.v1.opt']
    path = %[6]q
  [plugins.'io.containerd.image-verifier.v1.bindir']
    bin_dir = %[7]q
  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = "overlayfs"
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = %[8]q
  [plugins.'io.containerd.cri.v1.runtime']
    restrict_oom_score_adj = true
    enable_selinux = false
    netns_mounts_under_state_dir = true
    enable_cdi = false
    cdi_spec_dirs = []
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = [%[9]q]
      conf_dir = %[10]q
      max_conf_num = 1
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = "runc"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = %[11]q
          Root = %[12]q
          SystemdCgroup = false
`, root, state, n.sock(), n.sock()+".ttrpc", filepath.Join(realNodeRunDir, "nri.sock"),
		filepath.Join(root, "opt"), filepath.Join(root, "image-verifier"), PauseImage,
		filepath.Join(n.tools, cniDir), filepath.Join(n.dir, "cni"),
		filepath.Join(n.tools, binRunc), filepath.Join(realNodeRunDir, "runc"))
}

// kubeletConfig: cgroup v1 allowed (failCgroupV1), cgroupfs, x509 and
// webhook authentication and authorization, its own ports, pod logs under
// the sandbox, the taint that keeps other workloads away, and no image
// garbage collection (the images cannot be pulled back).
func (n *realNode) kubeletConfig(p *pki, port, healthz int) string {
	pkiDir := filepath.Join(n.dir, "pki")
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
address: %[1]q
port: %[2]d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %[3]d
tlsCertFile: %[4]q
tlsPrivateKeyFile: %[5]q
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: %[6]q
authorization:
  mode: Webhook
containerRuntimeEndpoint: %[7]q
podLogsDir: %[8]q
volumePluginDir: %[9]q
registerWithTaints:
- key: %[10]q
  value: "true"
  effect: NoSchedule
failSwapOn: false
rotateCertificates: false
serverTLSBootstrap: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "100Mi"
  nodefs.available: "2%%"
  nodefs.inodesFree: "2%%"
  imagefs.available: "2%%"
evictionPressureTransitionPeriod: 10s
maxPods: 110
`, n.nodeIP, port, healthz, filepath.Join(pkiDir, "kubelet-serving.crt"), filepath.Join(pkiDir, "kubelet-serving.key"),
		p.CAFile, "unix://"+n.sock(), filepath.Join(n.dir, "pod-logs"), filepath.Join(n.dir, "volume-plugins"), RealNodeLabel)
}

// cniConfig is a bridge with host-local addresses on a private /24; the
// bridge is the pods' gateway, so the host reaches pod IPs directly. No
// masquerading: pods need no way out, and no iptables rule is written.
func cniConfig() string {
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": %q,
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": %q}]],
        "dataDir": %q
      }
    }
  ]
}
`, realNodeNetwork, realNodeBridge, realNodeSubnet, filepath.Join(realNodeRunDir, "ipam"))
}

// startRealNodeRuntime starts containerd and, in the background, builds the
// images and imports them (Start waits for that in waitRealNode).
func (s *Sandbox) startRealNodeRuntime(ctx context.Context) error {
	n := s.node
	env := append(os.Environ(), "PATH="+n.tools+":"+os.Getenv("PATH"))
	p, err := startProcess(s.forker, s.Dir, "containerd", filepath.Join(n.tools, binContainerd),
		[]string{"--config", filepath.Join(realNodeRunDir, "containerd.toml")}, env)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	s.recordPIDs()
	n.images = make(chan error, 1)
	go func() { n.images <- s.importImages(ctx) }()
	return nil
}

func (s *Sandbox) importImages(ctx context.Context) error {
	n := s.node
	root := s.cfg.RepoRoot
	if root == "" {
		r, err := FindRepoRoot(".")
		if err != nil {
			return fmt.Errorf("real node images are built from the repository (set Config.RepoRoot): %w", err)
		}
		root = r
	}
	archives, err := buildImages(ctx, "go", root, filepath.Join(n.dir, "images"))
	if err != nil {
		return err
	}
	ctr := func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, filepath.Join(n.tools, binCtr), append([]string{"--address", n.sock(), "--namespace", "k8s.io"}, args...)...)
		return cmd.CombinedOutput()
	}
	for {
		if _, err := ctr("version"); err == nil {
			break
		}
		if p := s.process("containerd"); p != nil && p.exited() {
			return p.exitError()
		}
		select {
		case <-ctx.Done():
			return s.withLogs(fmt.Errorf("containerd not answering on %s: %w", n.sock(), context.Cause(ctx)), "containerd")
		case <-time.After(50 * time.Millisecond):
		}
	}
	for _, a := range archives {
		if out, err := ctr("images", "import", a); err != nil {
			return fmt.Errorf("ctr images import %s: %w\n%s", a, err, out)
		}
	}
	return nil
}

// startKubelet starts the kubelet once the API server is ready.
func (s *Sandbox) startKubelet() error {
	n := s.node
	env := append(os.Environ(), "PATH="+n.tools+":"+os.Getenv("PATH"))
	p, err := startProcess(s.forker, s.Dir, "kubelet", filepath.Join(n.tools, binKubelet), []string{
		"--config=" + filepath.Join(realNodeRunDir, "kubelet.yaml"),
		"--kubeconfig=" + n.kubeconfig,
		"--hostname-override=" + RealNodeName,
		"--node-ip=" + n.nodeIP,
		"--node-labels=" + RealNodeLabel + "=true,type=real",
		"--root-dir=" + filepath.Join(n.dir, "kubelet"),
		"--cert-dir=" + filepath.Join(n.dir, "kubelet-pki"),
		"--v=1",
	}, env)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	s.recordPIDs()
	return nil
}

// waitRealNode waits for the images and for the node to be Ready.
func (s *Sandbox) waitRealNode(ctx context.Context) error {
	select {
	case err := <-s.node.images:
		if err != nil {
			return fmt.Errorf("real node images: %w", err)
		}
	case <-ctx.Done():
		return fmt.Errorf("real node images not imported: %w", context.Cause(ctx))
	}
	for {
		node, err := s.client.CoreV1().Nodes().Get(ctx, RealNodeName, metav1.GetOptions{})
		if err == nil {
			for _, c := range node.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					return nil
				}
			}
		}
		for _, name := range []string{"kubelet", "containerd"} {
			if p := s.process(name); p != nil && p.exited() {
				return p.exitError()
			}
		}
		select {
		case <-ctx.Done():
			return s.withLogs(fmt.Errorf("real node %s not Ready: %w", RealNodeName, context.Cause(ctx)), "kubelet", "containerd")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stopRealNode stops the kubelet, kills every container, stops containerd
// and sweeps the host; then releases the machine-wide lock.
func (s *Sandbox) stopRealNode() error {
	n := s.node
	if n == nil || n.stopped {
		return nil
	}
	n.stopped = true
	var errs []error
	if p := s.process("kubelet"); p != nil {
		if err := p.stop(5 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	killCgroupProcs()
	if p := s.process("containerd"); p != nil {
		if err := p.stop(5 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	if err := sweepRealNode(filepath.Dir(n.dir), s.cfg.Log); err != nil {
		errs = append(errs, err)
	}
	n.unlock()
	return errors.Join(errs...)
}

// cgroupRoots are the pod cgroups of the kubelet (cgroupfs driver) and of
// containerd for containers it runs without a cgroup path.
var cgroupRoots = []string{"kubepods", "k8s.io"}

// cgroupHierarchies lists the mounted cgroup hierarchies (v1 controllers,
// the named systemd one, a v2 unified one).
func cgroupHierarchies() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// mount point is field 5; the type follows the "-" separator.
		for i, fl := range fields {
			if fl == "-" && i+1 < len(fields) && (fields[i+1] == "cgroup" || fields[i+1] == "cgroup2") {
				out = append(out, fields[4])
			}
		}
	}
	return out
}

// killCgroupProcs SIGKILLs every process in the pod cgroups, for up to 5 s.
func killCgroupProcs() {
	deadline := time.Now().Add(5 * time.Second)
	for {
		found := 0
		for _, h := range cgroupHierarchies() {
			for _, r := range cgroupRoots {
				found += killProcsUnder(filepath.Join(h, r))
			}
		}
		if found == 0 || time.Now().After(deadline) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// killProcsUnder SIGKILLs every process listed in a cgroup.procs file
// under dir (never this process) and returns how many it signalled.
func killProcsUnder(dir string) int {
	found := 0
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.Name() != "cgroup.procs" {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				found++
			}
		}
		return nil
	})
	return found
}

// sweepRealNode removes every host side effect of a real node: it kills
// its processes (found by realNodeRunDir on their command line: containerd,
// the kubelet, the shims) and the containers in its cgroups, unmounts what
// it mounted under sandboxDir/node and realNodeRunDir, removes its cgroups,
// the bridge, its CNI cache entries, the kubelet's fixed-path leftovers
// (/var/lib/kubelet/device-plugins, /var/log/containers links) and puts IP
// forwarding back. It is safe to run when nothing is left. sandboxDir may
// be empty (unknown).
func sweepRealNode(sandboxDir string, log io.Writer) error {
	var errs []error
	killByCmdline(realNodeRunDir)
	killCgroupProcs()
	killByCmdline(realNodeRunDir) // shims that outlived their containers

	nodeDir := ""
	if sandboxDir != "" {
		nodeDir = filepath.Join(sandboxDir, "node")
	}
	unmountUnder(realNodeRunDir, nodeDir)

	// Cgroups go depth first; a cgroup with a process left refuses, and
	// that is reported.
	for _, h := range cgroupHierarchies() {
		for _, r := range cgroupRoots {
			if err := removeCgroupTree(filepath.Join(h, r)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if _, err := os.Stat(filepath.Join("/sys/class/net", realNodeBridge)); err == nil {
		if out, err := exec.Command("ip", "link", "delete", realNodeBridge).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("delete bridge %s: %w: %s", realNodeBridge, err, out))
		}
	}
	sweepCNICache()
	sweepDeadShimSockets()
	sweepKubeletFixedPaths(nodeDir)
	if b, err := os.ReadFile(filepath.Join(realNodeRunDir, "ip_forward")); err == nil {
		_ = os.WriteFile("/proc/sys/net/ipv4/ip_forward", b, 0o644)
	}
	for _, dir := range []string{realNodeRunDir, nodeDir} {
		if dir == "" {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", dir, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(log, "sandbox: real node sweep: %v\n", err)
		return fmt.Errorf("real node sweep: %w", err)
	}
	return nil
}

// sweepCNICache removes the results libcni caches under /var/lib/cni
// whatever the IPAM dataDir, for our network and for containerd's own
// loopback one.
func sweepCNICache() {
	for _, pattern := range []string{realNodeNetwork + "-*", "cni-loopback-*"} {
		res, _ := filepath.Glob(filepath.Join("/var/lib/cni/results", pattern))
		for _, r := range res {
			_ = os.Remove(r)
		}
	}
	removeEmpty("/var/lib/cni/results", "/var/lib/cni")
}

// sweepDeadShimSockets: containerd 2 puts shim sockets in /run/containerd/s
// whatever its state directory. Only dead ones go (a host containerd's
// live shims answer), then the directories if that emptied them.
func sweepDeadShimSockets() {
	socks, _ := filepath.Glob("/run/containerd/s/*")
	for _, sk := range socks {
		if c, err := net.DialTimeout("unix", sk, 200*time.Millisecond); err == nil {
			_ = c.Close()
			continue
		}
		_ = os.Remove(sk)
	}
	// util-linux's mount, run by the kubelet for volumes, leaves /run/mount.
	removeEmpty("/run/containerd/s", "/run/containerd", "/run/mount")
}

// sweepKubeletFixedPaths removes what the kubelet writes at fixed paths
// whatever its root directory: the container log links that point into
// our node (nodeDir, or any node's pod-logs), and its device-plugin files.
func sweepKubeletFixedPaths(nodeDir string) {
	links, _ := filepath.Glob("/var/log/containers/*.log")
	for _, l := range links {
		if t, err := os.Readlink(l); err == nil && (strings.Contains(t, "/node/pod-logs/") || (nodeDir != "" && strings.HasPrefix(t, nodeDir))) {
			_ = os.Remove(l)
		}
	}
	removeEmpty("/var/log/containers")
	for _, f := range []string{"kubelet.sock", "DEPRECATION", "kubelet_internal_checkpoint"} {
		_ = os.Remove(filepath.Join("/var/lib/kubelet/device-plugins", f))
	}
	removeEmpty("/var/lib/kubelet/device-plugins", "/var/lib/kubelet/plugins_registry", "/var/lib/kubelet/plugins", "/var/lib/kubelet")
}

// killByCmdline SIGKILLs every process (but this one) whose command line
// mentions marker.
func killByCmdline(marker string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), marker) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	// Give the kernel a moment to reap what it can.
	time.Sleep(100 * time.Millisecond)
}

// unmountUnder detaches every mount below the given directories, deepest
// first (overlay root filesystems, the kubelet's volume tmpfs, network
// namespaces).
func unmountUnder(dirs ...string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := strings.ReplaceAll(fields[4], `\040`, " ")
		for _, d := range dirs {
			if d != "" && (mp == d || strings.HasPrefix(mp, d+"/")) {
				points = append(points, mp)
			}
		}
	}
	_ = f.Close()
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	for _, p := range points {
		_ = syscall.Unmount(p, syscall.MNT_DETACH)
	}
}

func removeCgroupTree(root string) error {
	if _, err := os.Stat(root); err != nil {
		return nil
	}
	var dirs []string
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	var last error
	for _, d := range dirs {
		if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
			last = fmt.Errorf("remove cgroup %s: %w", d, err)
		}
	}
	return last
}

// removeEmpty removes each directory if it is empty.
func removeEmpty(dirs ...string) {
	for _, d := range dirs {
		_ = syscall.Rmdir(d)
	}
}
