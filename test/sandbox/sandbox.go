// Package sandbox starts and stops a real Kubernetes control plane and a real
// Prometheus on one machine, for chaosnight's demo and integration tests.
//
// A sandbox is etcd, kube-apiserver (RBAC, ServiceAccount tokens),
// kube-controller-manager and kube-scheduler built from the pinned sources in
// hack/tools, kwok simulating fake nodes and pod lifecycles, an in-process
// exporter (package exporter) publishing kube-state-metrics series and demo
// traffic, and Debian's prometheus scraping that exporter every second.
// Every port is a free loopback port picked at start, so sandboxes run side
// by side; Stop ends every process it started, by process group, and removes
// its directory. docs/sandbox.md is the user guide.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/chaosnight/chaosnight/test/sandbox/exporter"
)

// Config configures a sandbox. The zero value is usable.
type Config struct {
	// Nodes is the number of fake kwok nodes (default 3). Each can hold
	// 10,000 pods.
	Nodes int
	// Dir holds logs, certificates, kubeconfig and data. When empty a
	// temporary directory is created and Stop removes it.
	Dir string
	// Log receives one line per start step (discarded when nil).
	Log io.Writer
	// SeedWorkload creates the shop workload and the decoys (see workload.go)
	// and waits until they are available.
	SeedWorkload bool
	// ScrapeInterval is Prometheus' scrape and evaluation interval (default 1s).
	ScrapeInterval time.Duration
	// TrafficNoise varies the demo traffic's request rates (drift and
	// jitter, see exporter.Noise); nil is exporter.DefaultNoise(),
	// &exporter.Noise{} the flat model.
	TrafficNoise *exporter.Noise
	// ToolsDir holds the binaries and kwok-stages.yaml (default DefaultToolsDir).
	ToolsDir string
	// Prometheus is the prometheus binary (default: PrometheusBinary's
	// choice: $CHAOSNIGHT_PROMETHEUS_BIN, else the build in the cache,
	// else "prometheus" on PATH).
	Prometheus string
	// StartTimeout bounds Start (default 2m; a warm start takes seconds).
	StartTimeout time.Duration
	// ControllerQPS is kube-controller-manager's client rate (default 200,
	// burst twice that). Its own default of 20 creates pods slowly.
	ControllerQPS int
	// KeepDir keeps the directory after Stop (also CHAOSNIGHT_SANDBOX_KEEP=1).
	KeepDir bool
	// Versions default to DefaultVersions.
	Versions Versions

	// RealNode adds a real node next to the kwok nodes: containerd, runc
	// and a real kubelet (realnode.go), named RealNodeName, labelled and
	// tainted RealNodeLabel=true so that only pods meant for it land there
	// (OnRealNode). It needs root and Linux; without them Start fails with
	// a *RealNodeUnavailableError saying why. It also turns on the Node
	// authorizer, NodeRestriction and client certificates in the API server.
	RealNode bool
	// RealShop, with RealNode and SeedWorkload, runs the seeded workloads
	// that have a real form (Workload.Real: the checkout) as real pods of
	// the shop on the real node, with a load generator and Prometheus
	// scraping the pods (realshop.go), instead of kwok pods whose traffic
	// the exporter models.
	RealShop bool
	// RealNodeToolsDir holds the real node's binaries (default
	// DefaultRealNodeToolsDir).
	RealNodeToolsDir string
	// RepoRoot is the repository the real node's images are built from
	// (default: found above the working directory).
	RepoRoot string
}

func (c *Config) defaults() error {
	if c.Nodes == 0 {
		c.Nodes = 3
	}
	if c.Nodes < 0 {
		return fmt.Errorf("sandbox: nodes must be >= 0, got %d", c.Nodes)
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	if c.RealShop && !c.RealNode {
		return fmt.Errorf("sandbox: RealShop runs the shop on the real node: it needs RealNode too")
	}
	if c.ScrapeInterval <= 0 {
		c.ScrapeInterval = time.Second
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = 2 * time.Minute
	}
	if c.ControllerQPS <= 0 {
		c.ControllerQPS = 200
	}
	if c.Versions == (Versions{}) {
		c.Versions = DefaultVersions()
	}
	if c.ToolsDir == "" {
		d, err := DefaultToolsDir(c.Versions)
		if err != nil {
			return err
		}
		c.ToolsDir = d
	}
	if c.RealNode && c.RealNodeToolsDir == "" {
		d, err := DefaultRealNodeToolsDir(DefaultRealNodeVersions())
		if err != nil {
			return err
		}
		c.RealNodeToolsDir = d
	}
	if os.Getenv(EnvKeep) == "1" {
		c.KeepDir = true
	}
	return nil
}

// Timings are durations from the call to Start.
type Timings struct {
	APIReady        time.Duration // kube-apiserver /readyz answered 200
	NodesReady      time.Duration // every fake node Ready
	WorkloadReady   time.Duration // seeded workload available (0 when not seeded)
	PrometheusReady time.Duration // Prometheus answered a query with a successful scrape: Start returns
	RealNodeReady   time.Duration // the real node Ready and its images imported (0 without RealNode)
}

// Sandbox is a running control plane and Prometheus. Its methods are safe
// for concurrent use.
type Sandbox struct {
	// Kubeconfig is the path of an admin kubeconfig (group system:masters).
	Kubeconfig string
	// PrometheusURL is the base URL of the Prometheus HTTP API.
	PrometheusURL string
	// ExporterURL is the exporter's /metrics URL.
	ExporterURL string
	// APIServerURL is the https URL of kube-apiserver.
	APIServerURL string
	// RESTConfig is the admin client configuration.
	RESTConfig *rest.Config
	// Dir holds the processes' logs (Dir/logs/*.log), data and certificates.
	Dir string
	// Timings says how long each start step took, measured from the call to
	// Start (for BENCHMARKS.md and slow-start reports).
	Timings Timings

	cfg     Config
	pki     *pki
	client  kubernetes.Interface
	runCtx  context.Context // ends at Stop: the exporter, the load generators
	cancel  context.CancelFunc
	load    *loadMetrics // the load generators' client-side series
	expSrv  *http.Server
	ownsDir bool

	forker *forker // the thread every child is forked from
	node   *realNode

	mu        sync.Mutex
	procs     []*process // control plane, in start order
	prom      *process
	promPort  int
	promMajor int // 2 or 3: their flags differ
	stopped   bool

	podAPIMu sync.Mutex        // ForwardToPods', held while it starts a forwarder
	forwards map[string]string // upstream -> the address pods connect to
}

// Start starts a sandbox and returns once the API server is ready, the fake
// nodes are Ready, the workload (if asked for) is available and Prometheus
// has scraped the exporter. On error everything started so far is stopped.
func Start(ctx context.Context, cfg Config) (*Sandbox, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if err := checkTools(cfg.ToolsDir, cfg.Versions); err != nil {
		return nil, err
	}
	promBin, err := PrometheusBinary(cfg.Prometheus)
	if err != nil {
		return nil, err
	}
	cfg.Prometheus = promBin

	began := time.Now()
	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	var node *realNode
	if cfg.RealNode {
		// Before the stale directories go: a killed real node's mounts
		// live in its sandbox directory.
		if node, err = realNodeSetup(ctx, &cfg); err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
	}
	s := &Sandbox{cfg: cfg, Dir: cfg.Dir, forker: newForker(), node: node, promMajor: prometheusMajor(ctx, promBin)}
	// Before start nothing runs: only the forker and the real node's lock
	// are to release.
	fail := func(err error) (*Sandbox, error) {
		s.forker.close()
		if node != nil {
			node.unlock()
		}
		return nil, err
	}
	if s.Dir == "" {
		sweepStaleDirs(os.TempDir())
		d, err := os.MkdirTemp("", tempPrefix)
		if err != nil {
			return fail(fmt.Errorf("sandbox: create directory: %w", err))
		}
		s.Dir, s.ownsDir = d, true
	} else if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return fail(fmt.Errorf("sandbox: create directory: %w", err))
	}
	if err := os.WriteFile(filepath.Join(s.Dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return fail(fmt.Errorf("sandbox: write owner file: %w", err))
	}
	if node != nil {
		node.dir = filepath.Join(s.Dir, "node")
	}

	if err := s.start(ctx, began); err != nil {
		if stopErr := s.Stop(); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		return nil, fmt.Errorf("sandbox: start: %w", err)
	}
	return s, nil
}

func (s *Sandbox) logf(format string, args ...any) {
	fmt.Fprintf(s.cfg.Log, "sandbox: "+format+"\n", args...)
}

func (s *Sandbox) start(ctx context.Context, began time.Time) error {
	ports, err := freePorts(7)
	if err != nil {
		return err
	}
	etcdPort, peerPort, apiPort, kubeletPort := ports[0], ports[1], ports[2], ports[4]
	s.promPort = ports[3]
	s.APIServerURL = fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	s.PrometheusURL = fmt.Sprintf("http://127.0.0.1:%d", s.promPort)

	if s.pki, err = writePKI(filepath.Join(s.Dir, "pki")); err != nil {
		return err
	}
	authz, apiExtra, err := s.prepareRealNode(ctx, ports[5], ports[6])
	if err != nil {
		return err
	}

	// The exporter listens first so Prometheus can start right away, in
	// parallel with the control plane: it scrapes 503s (up=0) until the
	// exporter's informers have synced.
	metrics, expAddr, err := s.serveExporter()
	if err != nil {
		return err
	}
	if err := s.writePrometheusConfig(expAddr); err != nil {
		return err
	}
	if err := s.StartPrometheus(ctx); err != nil {
		return err
	}

	etcdURL, err := s.startEtcd(ctx, etcdPort, peerPort, began)
	if err != nil {
		return err
	}
	if err := s.startAPIServer(ctx, etcdURL, apiPort, authz, apiExtra, began); err != nil {
		return err
	}
	if err := s.writeKubeconfig(); err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(s.RESTConfig)
	if err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	s.client = client
	if s.node != nil {
		if err := s.startKubelet(); err != nil {
			return err
		}
		s.startPodTargets()
	}

	if err := s.startControllers(); err != nil {
		return err
	}
	if err := s.startKwok(ctx, kubeletPort); err != nil {
		return err
	}
	if err := s.startExporterAndNodes(ctx, client, metrics, began); err != nil {
		return err
	}
	return s.waitReady(ctx, began)
}

// prepareRealNode starts the real node's runtime (containerd, and the
// image build) while the control plane starts, and returns the API
// server's authorization mode and extra flags: with a real node the
// kubelet is authorized as a node, to its own node and pods only. Without
// one it is plain RBAC.
func (s *Sandbox) prepareRealNode(ctx context.Context, kubeletPort, healthzPort int) (authz string, apiExtra []string, err error) {
	if s.node == nil {
		return "RBAC", nil, nil
	}
	if err := s.node.writeFiles(s.pki, s.APIServerURL, kubeletPort, healthzPort); err != nil {
		return "", nil, err
	}
	if err := s.startRealNodeRuntime(ctx); err != nil {
		return "", nil, err
	}
	return "Node,RBAC", s.node.apiServerArgs(s.pki), nil
}

// serveExporter listens for Prometheus' scrapes of the exporter and of the
// load metrics, and creates the sandbox's run context they live in (until
// Stop). The exporter's handler is installed in the returned pointer once
// it exists; until then /metrics answers 503.
func (s *Sandbox) serveExporter() (*atomic.Pointer[http.Handler], string, error) {
	expLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("exporter listen: %w", err)
	}
	s.ExporterURL = fmt.Sprintf("http://%s/metrics", expLn.Addr())
	runCtx, cancel := context.WithCancel(context.Background())
	s.runCtx, s.cancel = runCtx, cancel
	s.load = newLoadMetrics()
	var metrics atomic.Pointer[http.Handler]
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		if h := metrics.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		http.Error(w, "exporter not started yet", http.StatusServiceUnavailable)
	})
	mux.Handle(loadMetricsPath, s.load.handler())
	s.expSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.expSrv.Serve(expLn) }()
	return &metrics, expLn.Addr().String(), nil
}

// startEtcd starts etcd and waits for its health; it returns the client URL.
func (s *Sandbox) startEtcd(ctx context.Context, etcdPort, peerPort int, began time.Time) (string, error) {
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	if err := s.spawn("etcd", binEtcd,
		"--name=sandbox",
		"--data-dir="+filepath.Join(s.Dir, "etcd"),
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=sandbox="+peerURL,
		"--initial-cluster-state=new",
		// Test data: durability buys nothing and fsync costs seconds.
		"--unsafe-no-fsync",
		"--quota-backend-bytes=8589934592",
		"--log-level=warn",
	); err != nil {
		return "", err
	}
	if err := s.waitHTTP(ctx, "etcd", etcdURL+"/health", nil, "etcd"); err != nil {
		return "", err
	}
	s.logf("etcd ready (%s)", time.Since(began).Round(time.Millisecond))
	return etcdURL, nil
}

// startAPIServer starts kube-apiserver on etcd with the sandbox's PKI and
// authorization mode (apiExtra: the real node's flags) and waits for
// /readyz.
func (s *Sandbox) startAPIServer(ctx context.Context, etcdURL string, apiPort int, authz string, apiExtra []string, began time.Time) error {
	if err := s.spawn("kube-apiserver", binAPIServer, append([]string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(apiPort),
		"--cert-dir=" + filepath.Join(s.Dir, "pki"),
		"--tls-cert-file=" + s.pki.CertFile,
		"--tls-private-key-file=" + s.pki.KeyFile,
		"--token-auth-file=" + s.pki.TokenFile,
		"--authorization-mode=" + authz,
		"--service-account-key-file=" + s.pki.SAPubFile,
		"--service-account-signing-key-file=" + s.pki.SAKeyFile,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range=10.96.0.0/16",
		"--allow-privileged=true",
		// exec, logs and port-forward reach kwok's kubelet server: every
		// fake node reports InternalIP 127.0.0.1 and kwok's port (see
		// exec.go), and kwok's certificate is verified against the CA.
		"--kubelet-preferred-address-types=InternalIP",
		"--kubelet-certificate-authority=" + s.pki.CAFile,
		"--profiling=false",
		"--v=0",
	}, apiExtra...)...); err != nil {
		return err
	}
	if err := s.waitHTTP(ctx, "kube-apiserver", s.APIServerURL+"/readyz", s.adminTransport(), "kube-apiserver"); err != nil {
		return err
	}
	s.Timings.APIReady = time.Since(began)
	s.logf("kube-apiserver ready at %s (%s)", s.APIServerURL, s.Timings.APIReady.Round(time.Millisecond))
	return nil
}

// startControllers starts kube-controller-manager and kube-scheduler.
func (s *Sandbox) startControllers() error {
	cfg := s.cfg
	qps := strconv.Itoa(cfg.ControllerQPS)
	if err := s.spawn("kube-controller-manager", binController,
		"--kubeconfig="+s.Kubeconfig,
		// nodeipam would need a cluster CIDR; kwok assigns pod IPs itself.
		// serviceaccount-token is the legacy Secret-based token controller:
		// tokens come from the TokenRequest API.
		"--controllers=*,-nodeipam,-serviceaccount-token",
		"--leader-elect=false",
		"--root-ca-file="+s.pki.CAFile,
		"--secure-port=0",
		"--kube-api-qps="+qps,
		"--kube-api-burst="+strconv.Itoa(2*cfg.ControllerQPS),
		"--v=0",
	); err != nil {
		return err
	}
	return s.spawn("kube-scheduler", binScheduler,
		"--kubeconfig="+s.Kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
		"--kube-api-qps="+qps,
		"--kube-api-burst="+strconv.Itoa(2*cfg.ControllerQPS),
		"--v=0",
	)
}

// startKwok starts kwok with the pinned stages, managing the fake nodes
// and serving their kubelet API (exec, logs, port-forward) on kubeletPort.
func (s *Sandbox) startKwok(ctx context.Context, kubeletPort int) error {
	cfg := s.cfg
	stages := filepath.Join(s.Dir, kwokStagesFile)
	if err := writeStages(filepath.Join(cfg.ToolsDir, kwokStagesFile), stages); err != nil {
		return err
	}
	if err := s.installExecCRD(ctx); err != nil {
		return err
	}
	kwokEnv, err := s.kwokEnv()
	if err != nil {
		return err
	}
	if err := s.spawnEnv("kwok", binKwok, kwokEnv,
		"--kubeconfig="+s.Kubeconfig,
		"--config="+stages,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector="+FakeNodeAnnotation+"=fake",
		// Without leases the node-lifecycle controller sees stale heartbeats,
		// declares a PartialDisruption and marks every pod not ready.
		"--node-lease-duration-seconds=40",
		// Pod IPs come from here; the default /24 runs out at 254 pods.
		"--cidr=10.244.0.0/16",
		// The kubelet server (exec, logs, port-forward) for every fake
		// node, on loopback with a certificate from the sandbox CA; Exec
		// objects route execs into pods (exec.go).
		"--node-ip=127.0.0.1",
		"--node-port="+strconv.Itoa(kubeletPort),
		"--server-address="+net.JoinHostPort("127.0.0.1", strconv.Itoa(kubeletPort)),
		"--tls-cert-file="+s.pki.KubeletCertFile,
		"--tls-private-key-file="+s.pki.KubeletKeyFile,
		"--enable-crds=Exec",
		// Its INFO level logs every pod patch; warnings are what a failing
		// test needs.
		"--v=WARN",
	); err != nil {
		return err
	}
	return nil
}

// startExporterAndNodes creates the exporter (installed in metrics), the
// fake nodes, and waits for them to be Ready.
func (s *Sandbox) startExporterAndNodes(ctx context.Context, client kubernetes.Interface, metrics *atomic.Pointer[http.Handler], began time.Time) error {
	cfg := s.cfg
	// The exporter watches through the admin client; it runs until Stop.
	exp, err := exporter.New(exporter.Config{
		Client: client,
		Noise:  s.cfg.TrafficNoise,
		Log:    slog.New(slog.NewTextHandler(s.cfg.Log, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	h := exp.Handler()
	metrics.Store(&h)

	if err := s.createNodes(ctx); err != nil {
		return err
	}
	if err := exp.Start(s.runCtx); err != nil {
		return err
	}
	if err := s.waitNodesReady(ctx); err != nil {
		return err
	}
	s.Timings.NodesReady = time.Since(began)
	s.logf("%d fake nodes ready (%s)", cfg.Nodes, s.Timings.NodesReady.Round(time.Millisecond))
	return nil
}

// waitReady waits for the real node, the seeded workload and Prometheus'
// first scrape, in that order, recording when each was ready.
func (s *Sandbox) waitReady(ctx context.Context, began time.Time) error {
	cfg := s.cfg
	if s.node != nil {
		if err := s.waitRealNode(ctx); err != nil {
			return err
		}
		s.Timings.RealNodeReady = time.Since(began)
		s.logf("real node %s ready, images imported (%s)", RealNodeName, s.Timings.RealNodeReady.Round(time.Millisecond))
	}

	if cfg.SeedWorkload {
		if err := s.seed(ctx, cfg.RealShop && s.node != nil); err != nil {
			return err
		}
		s.Timings.WorkloadReady = time.Since(began)
		s.logf("workload seeded and available (%s)", s.Timings.WorkloadReady.Round(time.Millisecond))
	}
	if err := s.waitPrometheusScraped(ctx); err != nil {
		return err
	}
	s.Timings.PrometheusReady = time.Since(began)
	s.logf("prometheus answering at %s (%s)", s.PrometheusURL, s.Timings.PrometheusReady.Round(time.Millisecond))
	return nil
}

// spawn starts a control-plane binary from the tools directory.
func (s *Sandbox) spawn(name, bin string, args ...string) error {
	return s.spawnEnv(name, bin, nil, args...)
}

// spawnEnv is spawn with an environment (nil: the test's).
func (s *Sandbox) spawnEnv(name, bin string, env []string, args ...string) error {
	p, err := startProcess(s.forker, s.Dir, name, filepath.Join(s.cfg.ToolsDir, bin), args, env)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	s.recordPIDs()
	return nil
}

// recordPIDs writes the pids of every running child to Dir/pids, so a
// person (or `sandbox down`) can find them if the owner dies.
func (s *Sandbox) recordPIDs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, p := range append(append([]*process{}, s.procs...), s.prom) {
		if p != nil && !p.exited() {
			fmt.Fprintf(&b, "%d %s\n", p.pid(), p.name)
		}
	}
	_ = os.WriteFile(filepath.Join(s.Dir, "pids"), []byte(b.String()), 0o644)
}

func (s *Sandbox) process(name string) *process {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.prom != nil && s.prom.name == name {
		return s.prom
	}
	for _, p := range s.procs {
		if p.name == name {
			return p
		}
	}
	return nil
}

// withLogs appends the tails of the named processes' logs to err.
func (s *Sandbox) withLogs(err error, names ...string) error {
	var b strings.Builder
	for _, n := range names {
		if p := s.process(n); p != nil {
			fmt.Fprintf(&b, "\n--- last lines of %s ---\n%s", p.logPath, tailFile(p.logPath, 15))
		}
	}
	return fmt.Errorf("%w%s", err, b.String())
}

// Pids returns the pids of the processes the sandbox runs, by name.
func (s *Sandbox) Pids() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]int{}
	for _, p := range append(append([]*process{}, s.procs...), s.prom) {
		if p != nil && !p.exited() {
			m[p.name] = p.pid()
		}
	}
	return m
}

// LogPath is the log file of one process (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok, prometheus).
func (s *Sandbox) LogPath(name string) string { return filepath.Join(s.Dir, "logs", name+".log") }

// Client is an admin clientset.
func (s *Sandbox) Client() kubernetes.Interface { return s.client }

// Stop stops every process the sandbox started (Prometheus and kwok first,
// etcd last), by process group, SIGTERM then SIGKILL, and removes the
// directory unless asked to keep it. It is idempotent.
func (s *Sandbox) Stop() error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	procs := append([]*process{}, s.procs...)
	prom := s.prom
	s.mu.Unlock()

	if s.cancel != nil {
		s.cancel()
	}
	if s.expSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.expSrv.Shutdown(ctx)
		cancel()
	}
	var errs []error
	// The real node goes first, while the API server still answers the
	// kubelet: its containers, cgroups, mounts and bridge are host state.
	if err := s.stopRealNode(); err != nil {
		errs = append(errs, err)
	}
	// Everything but etcd stops in parallel; etcd goes last so the API
	// server does not spend its grace period retrying it.
	var wg sync.WaitGroup
	var emu sync.Mutex
	var etcd *process
	for _, p := range append(procs, prom) {
		if p == nil {
			continue
		}
		if p.name == "etcd" {
			etcd = p
			continue
		}
		wg.Add(1)
		go func(p *process) {
			defer wg.Done()
			if err := p.stop(5 * time.Second); err != nil {
				emu.Lock()
				errs = append(errs, err)
				emu.Unlock()
			}
		}(p)
	}
	wg.Wait()
	if etcd != nil {
		if err := etcd.stop(5 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	s.forker.close()
	if s.ownsDir && !s.cfg.KeepDir {
		if err := os.RemoveAll(s.Dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", s.Dir, err))
		}
	} else {
		_ = os.Remove(filepath.Join(s.Dir, "pids"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sandbox: stop: %w", err)
	}
	return nil
}

// adminTransport trusts the sandbox CA and sends the admin token.
func (s *Sandbox) adminTransport() http.RoundTripper {
	rt, err := rest.TransportFor(s.adminConfig())
	if err != nil {
		return http.DefaultTransport
	}
	return rt
}

func (s *Sandbox) adminConfig() *rest.Config {
	return &rest.Config{
		Host:            s.APIServerURL,
		BearerToken:     s.pki.AdminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: s.pki.CAPEM},
		// Tests create and delete in bursts; client-go's default 5/s would
		// make them measure the client, not the cluster.
		QPS:   200,
		Burst: 400,
	}
}

func (s *Sandbox) writeKubeconfig() error {
	s.RESTConfig = s.adminConfig()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["sandbox"] = &clientcmdapi.Cluster{Server: s.APIServerURL, CertificateAuthorityData: s.pki.CAPEM}
	kc.AuthInfos["sandbox-admin"] = &clientcmdapi.AuthInfo{Token: s.pki.AdminToken}
	kc.Contexts["sandbox"] = &clientcmdapi.Context{Cluster: "sandbox", AuthInfo: "sandbox-admin", Namespace: "default"}
	kc.CurrentContext = "sandbox"
	s.Kubeconfig = filepath.Join(s.Dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, s.Kubeconfig); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}

// waitHTTP polls url until it answers 200, failing early if proc exits.
func (s *Sandbox) waitHTTP(ctx context.Context, what, url string, rt http.RoundTripper, proc string) error {
	c := &http.Client{Timeout: 2 * time.Second, Transport: rt}
	var last string
	for {
		if p := s.process(proc); p != nil && p.exited() {
			return p.exitError()
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		resp, err := c.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			err := fmt.Errorf("%s not ready at %s (last answer: %s): %w", what, url, last, context.Cause(ctx))
			if p := s.process(proc); p != nil {
				return s.withLogs(err, p.name)
			}
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// FakeNodeAnnotation marks the nodes kwok manages (its value is "fake"); the
// same key is the NoSchedule taint workloads must tolerate to land on them.
const FakeNodeAnnotation = "kwok.x-k8s.io/node"

// NodeName is the name of the i-th fake node (0-based).
func NodeName(i int) string { return fmt.Sprintf("kwok-node-%d", i) }

func (s *Sandbox) createNodes(ctx context.Context) error {
	for i := range s.cfg.Nodes {
		name := NodeName(i)
		n := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        name,
				Annotations: map[string]string{FakeNodeAnnotation: "fake", "node.alpha.kubernetes.io/ttl": "0"},
				Labels: map[string]string{
					"type":                          "kwok",
					"kubernetes.io/hostname":        name,
					"kubernetes.io/os":              "linux",
					"kubernetes.io/arch":            "amd64",
					"kubernetes.io/role":            "agent",
					"node-role.kubernetes.io/agent": "",
				},
			},
			Spec: corev1.NodeSpec{
				Taints: []corev1.Taint{{Key: FakeNodeAnnotation, Value: "fake", Effect: corev1.TaintEffectNoSchedule}},
			},
			Status: corev1.NodeStatus{
				Capacity:    nodeResources(),
				Allocatable: nodeResources(),
			},
		}
		if _, err := s.client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create node %s: %w", name, err)
		}
	}
	return nil
}

// nodeResources is a fake node's capacity: room for thousands of pods.
func nodeResources() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("256"),
		corev1.ResourceMemory: resource.MustParse("1Ti"),
		corev1.ResourcePods:   resource.MustParse("10000"),
	}
}

func (s *Sandbox) waitNodesReady(ctx context.Context) error {
	for {
		nodes, err := s.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		ready := 0
		if err == nil {
			if ready = readyFakeNodes(nodes.Items); ready >= s.cfg.Nodes {
				return nil
			}
		}
		if p := s.process("kwok"); p != nil && p.exited() {
			return p.exitError()
		}
		select {
		case <-ctx.Done():
			return s.withLogs(fmt.Errorf("%d of %d fake nodes ready: %w", ready, s.cfg.Nodes, context.Cause(ctx)), "kwok")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// readyFakeNodes counts the Ready nodes among the fake ones (the real node
// is waited for on its own).
func readyFakeNodes(nodes []corev1.Node) int {
	ready := 0
	for _, n := range nodes {
		if n.Annotations[FakeNodeAnnotation] != "fake" {
			continue
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	return ready
}
