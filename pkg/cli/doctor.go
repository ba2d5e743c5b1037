package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/spf13/cobra"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/inject/stress"
	"github.com/chaosnight/chaosnight/pkg/killswitch"
	"github.com/chaosnight/chaosnight/pkg/probe/prometheus"
	"github.com/chaosnight/chaosnight/pkg/schedule"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// Statuses of a doctor check. A warning does not fail the command.
const (
	doctorOK   = "ok"
	doctorWarn = "warn"
	doctorFail = "fail"
)

// Sections of the doctor's checklist, in the order printed.
const (
	sectionKubernetes = "Kubernetes"
	sectionPrometheus = "Prometheus"
	sectionNights     = "Nights"
	sectionResources  = "Custom resources"
)

// doctorTimeout bounds each request the doctor sends: it diagnoses a
// cluster that may not answer, and must say so rather than hang.
const doctorTimeout = 10 * time.Second

// doctorCheck is one line of the checklist.
type doctorCheck struct {
	Section string `json:"section"`
	Status  string `json:"status"` // doctorOK, doctorWarn or doctorFail
	Message string `json:"message"`
	// Detail is the server's own words (an admission message, verbatim).
	Detail string `json:"detail,omitempty"`
	// Fix says exactly what to do; set on every failure.
	Fix string `json:"fix,omitempty"`
	// Rule names what refused (admission): "ValidatingAdmissionPolicy
	// deny-ephemeral (binding deny-ephemeral)", "Pod Security", "RBAC".
	Rule string `json:"rule,omitempty"`
}

// doctorReport is the whole checklist (--output json prints it as is).
type doctorReport struct {
	OK       bool          `json:"ok"`
	Failed   int           `json:"failed"`
	Warnings int           `json:"warnings"`
	Checks   []doctorCheck `json:"checks"`
}

func (r *doctorReport) add(c doctorCheck) {
	r.Checks = append(r.Checks, c)
}

func (r *doctorReport) ok(section, format string, args ...any) {
	r.add(doctorCheck{Section: section, Status: doctorOK, Message: fmt.Sprintf(format, args...)})
}

func (r *doctorReport) warn(section, msg, fix string) {
	r.add(doctorCheck{Section: section, Status: doctorWarn, Message: msg, Fix: fix})
}

func (r *doctorReport) fail(section, msg, fix string) {
	r.add(doctorCheck{Section: section, Status: doctorFail, Message: msg, Fix: fix})
}

// finish counts the failures and warnings.
func (r *doctorReport) finish() {
	r.Failed, r.Warnings = 0, 0
	for _, c := range r.Checks {
		switch c.Status {
		case doctorFail:
			r.Failed++
		case doctorWarn:
			r.Warnings++
		}
	}
	r.OK = r.Failed == 0
}

// doctorMark is the checklist's mark of a status.
func doctorMark(status string) string {
	switch status {
	case doctorOK:
		return "✔"
	case doctorWarn:
		return "!"
	}
	return "✘"
}

// writeText prints the checklist for people: one line per check under its
// section, the server's message and the fix indented under a failure.
func (r *doctorReport) writeText(w io.Writer) error {
	out := &scheduleWriter{w: w}
	section := ""
	for _, c := range r.Checks {
		if c.Section != section {
			if section != "" {
				out.printf("\n")
			}
			section = c.Section
			out.printf("%s\n", section)
		}
		out.printf("  %s %s\n", doctorMark(c.Status), c.Message)
		if c.Detail != "" {
			out.printf("    message: %s\n", c.Detail)
		}
		if c.Fix != "" {
			out.printf("    fix: %s\n", c.Fix)
		}
	}
	ok := len(r.Checks) - r.Failed - r.Warnings
	out.printf("\n%d check(s): %d ok, %d warning(s), %d failed\n", len(r.Checks), ok, r.Warnings, r.Failed)
	return out.err
}

func newDoctorCommand(streams Streams, g *globals) *cobra.Command {
	var output, nowText string
	cmd := &cobra.Command{
		Use:   "doctor [PATH...]",
		Short: "Check that the cluster, Prometheus and the experiments are ready for a night, without changing anything",
		Long: `Check, against the current kubeconfig context and Prometheus, everything a run
or a night needs, and print a checklist: ✔ passed, ! warning, ✘ failed, with a
"fix:" line under each failure saying what to do. Nothing is changed: the
admission checks are server-side dry runs.

PATH are experiment files or directories (as for validate). With --config, the
nights of that serve configuration are checked too (the next window of each,
in its time zone) and the experiments of its experiments directory.

Checks:
  - the API server answers (its version), the kill switch's namespace exists
    and the kill switch is released;
  - every permission each experiment's action needs, in every target
    namespace, by SelfSubjectAccessReview, named by verb and resource;
  - every target namespace is opted in (chaosnight.dev/enabled=true) and not
    protected, with its Pod Security levels;
  - a server-side dry run (dryRun=All) of exactly what each experiment sends
    on one real target: the eviction or deletion, the stress ephemeral
    container, the stress helper pod; a refusal is quoted verbatim with the
    rule that refused (Pod Security, a ValidatingAdmissionPolicy and its
    binding, an admission webhook, RBAC);
  - Prometheus answers, and every probe and stop condition returns data now;
    an empty result names the metrics that have no series at all;
  - for nights (--config): the next window of each night in its time zone.

Exit codes: 0 nothing failed (warnings allowed), 1 something failed, 3 invalid
input (an experiment or configuration that does not load).`,
		Example: `  chaosnight doctor experiments/ --prometheus-url http://localhost:9090
  chaosnight doctor --config chaosnight.yaml
  chaosnight doctor experiments/checkout-pod-kill.yaml --context prod -o json`,
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return withExitCode(ExitInvalid, fmt.Errorf("--output %q: unknown output (allowed: text, json)", output))
			}
			now := time.Now()
			if nowText != "" {
				t, err := time.Parse(time.RFC3339, nowText)
				if err != nil {
					return withExitCode(ExitInvalid, fmt.Errorf("--now %q: not an RFC 3339 time such as 2026-07-01T21:00:00+02:00", nowText))
				}
				now = t
			}
			return runDoctor(cmd, streams, g, doctorOptions{output: output, now: now}, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&output, "output", "o", "text", "output: text (a checklist) or json")
	fl.String("experiments", "", "directory of a night's experiments (default: the experiments key of --config)")
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletion("text", "json"))
	fl.StringVar(&nowText, "now", "", "the nights' next windows from this instant (RFC 3339) instead of now")
	_ = fl.MarkHidden("now")
	_ = cmd.MarkFlagDirname("experiments")
	g.addInjectionFlags(fl)
	return cmd
}

// doctor holds what the checks share.
type doctor struct {
	g      *globals
	report doctorReport
	client kubernetes.Interface
	// namespace is the kubeconfig context's: where a stress run keeps its
	// Lease.
	namespace string
	// user is who the API server says we are, for the fix lines.
	user string
	now  time.Time
	rest *rest.Config
	// resources is the configuration's customResources: with it on, the
	// doctor also checks the Experiment and ChaosNight objects serve would
	// play.
	resources schedule.CustomResources
}

// doctorOptions are the doctor's own flags.
type doctorOptions struct {
	output string    // text or json
	now    time.Time // the instant the nights' windows are computed from
}

func runDoctor(cmd *cobra.Command, streams Streams, g *globals, opts doctorOptions, paths []string) error {
	if err := g.checkSafety(); err != nil {
		return withExitCode(ExitInvalid, err)
	}
	d := &doctor{g: g, now: opts.now}
	exps, nights, err := d.load(cmd, paths)
	if err != nil {
		var problems experiment.Problems
		if errors.As(err, &problems) {
			return printScheduleProblems(streams, problems)
		}
		return withExitCode(ExitInvalid, err)
	}
	ctx := cmd.Context()
	if d.kubernetes(ctx) {
		objExps, objNights := d.customResources(ctx)
		exps = append(exps, objExps...)
		nights = append(nights, objNights...)
		for i := range exps {
			d.experiment(ctx, &exps[i])
		}
	}
	d.prometheus(ctx, exps)
	d.nights(nights)
	d.report.finish()

	if opts.output == "json" {
		enc := json.NewEncoder(streams.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(d.report); err != nil {
			return withExitCode(ExitInvalid, err)
		}
	} else if err := d.report.writeText(streams.Out); err != nil {
		return withExitCode(ExitInvalid, err)
	}
	if !d.report.OK {
		return silentExit(ExitFailed)
	}
	return nil
}

// load reads the experiments of paths and, with --config, the nights and
// the experiments of its directory.
func (d *doctor) load(cmd *cobra.Command, paths []string) ([]experiment.Experiment, []schedule.Night, error) {
	var exps []experiment.Experiment
	if len(paths) > 0 {
		loaded, err := experiment.CheckPaths(d.g.faults.Formats(), paths...)
		if err != nil {
			return nil, nil, err
		}
		exps = append(exps, loaded...)
	}
	file := d.g.settings.ConfigFile
	if file == "" {
		return exps, nil, nil
	}
	cfg, err := schedule.LoadConfigFile(file, d.now)
	if err != nil {
		return nil, nil, err
	}
	d.resources = cfg.CustomResources
	if len(cfg.Nights) == 0 {
		return exps, nil, nil
	}
	if dir := experimentsDir(cmd, d.g); dir != "" {
		loaded, err := experiment.LoadPaths(d.g.faults.Formats(), dir)
		if err != nil {
			return nil, nil, err
		}
		exps = append(exps, loaded...)
	}
	return exps, cfg.Nights, nil
}

// kubernetes checks the API server, the kill switch's namespace and the
// kill switch, and reports whether the cluster can be checked further.
func (d *doctor) kubernetes(ctx context.Context) bool {
	cc := d.g.kubeClientConfig()
	restCfg, err := cc.ClientConfig()
	if err != nil {
		d.report.fail(sectionKubernetes, fmt.Sprintf("no usable kubeconfig: %v", err),
			"point --kubeconfig (or $KUBECONFIG) at a kubeconfig, and --context at one of its contexts (kubectl config get-contexts)")
		return false
	}
	restCfg.Timeout = doctorTimeout
	d.namespace, _, _ = cc.Namespace()
	client, err := target.NewClientset(restCfg, float32(d.g.v.GetFloat64(keyKubeQPS)), d.g.v.GetInt(keyKubeBurst))
	if err != nil {
		d.report.fail(sectionKubernetes, fmt.Sprintf("no Kubernetes client: %v", err), "check the kubeconfig's server and credentials")
		return false
	}
	d.client, d.rest = client, restCfg
	ctxName := d.g.settings.Context
	if ctxName == "" {
		if raw, err := cc.RawConfig(); err == nil {
			ctxName = raw.CurrentContext
		}
	}
	v, err := client.Discovery().ServerVersion()
	if err != nil {
		d.report.fail(sectionKubernetes, fmt.Sprintf("the API server %s does not answer (context %s): %v", restCfg.Host, orNone(ctxName), err),
			"check that the cluster is up and that the kubeconfig context "+orNone(ctxName)+" is the right one (kubectl --context "+orNone(ctxName)+" version)")
		return false
	}
	d.user = d.whoAmI(ctx)
	d.report.ok(sectionKubernetes, "API server %s answers: Kubernetes %s (context %s, user %s)", restCfg.Host, v.GitVersion, orNone(ctxName), d.user)

	ksNS := d.g.killSwitchNamespace()
	switch _, err := client.CoreV1().Namespaces().Get(ctx, ksNS, metav1.GetOptions{}); {
	case err == nil:
		d.report.ok(sectionKubernetes, "namespace %s (kill switch, chaosnight's own) exists", ksNS)
	case apierrors.IsNotFound(err):
		d.report.fail(sectionKubernetes, fmt.Sprintf("namespace %s (kill switch, chaosnight's own) does not exist: pause cannot engage the switch there", ksNS),
			fmt.Sprintf("kubectl create namespace %s (or install the chart there), or set killSwitch.namespace to the namespace chaosnight is installed in", ksNS))
	default:
		d.report.warn(sectionKubernetes, fmt.Sprintf("namespace %s (kill switch, chaosnight's own) cannot be read: %v", ksNS, err), "")
	}

	ks := d.g.newKillSwitch(client)
	ksName := ks.Name
	if ksName == "" {
		ksName = killswitch.DefaultName
	}
	st, err := ks.Get(ctx)
	switch {
	case err != nil:
		d.report.fail(sectionKubernetes, fmt.Sprintf("kill switch unreadable (%s): it counts as engaged, nothing would be injected: %v", ks.Ref(), err),
			fmt.Sprintf("grant %s get on configmaps/%s in namespace %s (the chart's Role does), or set killSwitch.namespace to where the switch is", d.user, ksName, ks.Namespace))
	case st.Engaged || st.Unclear != "":
		d.report.fail(sectionKubernetes, fmt.Sprintf("kill switch engaged (%s): %s; nothing would be injected", ks.Ref(), killswitch.Describe(st)),
			fmt.Sprintf("once the reason is over: chaosnight resume --kill-switch-namespace %s", ks.Namespace))
	default:
		d.report.ok(sectionKubernetes, "kill switch released (%s)", ks.Ref())
	}
	return true
}

// whoAmI asks the API server who the credentials are (SelfSubjectReview),
// for the fix lines; "the current user" when it cannot say.
func (d *doctor) whoAmI(ctx context.Context) string {
	r, err := d.client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil || r.Status.UserInfo.Username == "" {
		return "the current user"
	}
	return r.Status.UserInfo.Username
}

// experiment checks one experiment's namespaces, permissions and admission.
func (d *doctor) experiment(ctx context.Context, exp *experiment.Experiment) {
	section := fmt.Sprintf("Experiment %s (%s)", exp.Metadata.Name, sourceOf(exp))
	policy := d.g.policy(true)
	// The running pods the experiment could pick: their owners decide the
	// reads minHealthy needs, and one of them takes the dry runs.
	pods, _, listErr := (&target.Selector{Client: d.client}).List(ctx, exp.Spec.Target)
	if listErr != nil {
		pods = nil
	}
	protected := policy.Protected()
	for _, ns := range exp.Spec.Target.Namespaces {
		if why, ok := protected[ns]; ok {
			d.report.fail(section, fmt.Sprintf("namespace %s is protected (%s): nothing in it is ever touched", ns, why),
				"leave "+ns+" out of spec.target.namespaces"+protectedFix(why, ns))
			continue
		}
		if !d.namespaceCheck(ctx, section, ns, policy.RequireOptIn) {
			continue
		}
		var inNS []target.Pod
		for _, p := range pods {
			if p.Namespace == ns && !p.Terminating {
				inNS = append(inNS, p)
			}
		}
		d.permissions(ctx, section, ns, d.accessOf(exp, ns, inNS, policy.RequireOptIn))
		switch {
		case listErr != nil:
			d.report.fail(section, fmt.Sprintf("admission: not checked in namespace %s: the targets cannot be listed: %v", ns, listErr),
				"grant "+d.user+" list on pods in namespace "+ns)
		case len(inNS) == 0:
			d.report.fail(section, fmt.Sprintf("admission: not checked in namespace %s: no running pod matches %s there, the experiment would be skipped", ns, exp.Spec.Target.Selector),
				"check spec.target.selector and spec.target.namespaces against kubectl -n "+ns+" get pods -l '"+exp.Spec.Target.Selector+"'")
		default:
			if nc, ok := d.kindOf(exp).(inject.NodeChecker); ok && nc.UsesNodes(exp.Spec.Action.Spec) {
				d.nodeCheck(ctx, section, inNS[0].Node)
			}
			d.admission(ctx, section, exp, inNS[0])
		}
	}
	if d.g.faults.NeedsLease(exp.Spec.Action) && d.namespace != "" {
		d.permissions(ctx, section, d.namespace, stress.LeaseAccess(d.namespace))
	}
}

func sourceOf(exp *experiment.Experiment) string {
	if exp.Source.File == "" {
		return "no file"
	}
	if exp.Source.Line > 0 {
		return exp.Source.File + ":" + strconv.Itoa(exp.Source.Line)
	}
	return exp.Source.File
}

func protectedFix(why, ns string) string {
	if why == "system" {
		return " (or lift it with safety.allowSystemNamespaces: [" + ns + "], knowing what that means)"
	}
	if why == "excluded" {
		return " (or remove it from safety.excludeNamespaces)"
	}
	return ""
}

// namespaceCheck reports the namespace's opt-in and Pod Security levels,
// and whether it exists.
func (d *doctor) namespaceCheck(ctx context.Context, section, ns string, requireOptIn bool) bool {
	obj, err := d.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		d.report.fail(section, fmt.Sprintf("namespace %s does not exist", ns), "fix spec.target.namespaces, or create the namespace")
		return false
	case err != nil && requireOptIn:
		d.report.fail(section, fmt.Sprintf("namespace %s cannot be read, so its opt-in cannot be checked and the guard refuses its pods: %v", ns, err),
			fmt.Sprintf("grant %s get on namespaces/%s (the chart's ClusterRole does)", d.user, ns))
		return true
	case err != nil:
		d.report.warn(section, fmt.Sprintf("namespace %s cannot be read: %v", ns, err), "")
		return true
	}
	levels := podSecurityLevels(obj.Labels)
	switch {
	case obj.Labels[inject.OptInLabel] == "true":
		d.report.ok(section, "namespace %s opted in (%s=true); %s", ns, inject.OptInLabel, levels)
	case requireOptIn:
		d.report.fail(section, fmt.Sprintf("namespace %s is not opted in: the guard refuses every pod in it; %s", ns, levels),
			fmt.Sprintf("kubectl label namespace %s %s=true", ns, inject.OptInLabel))
	default:
		d.report.warn(section, fmt.Sprintf("namespace %s is not opted in (safety.requireOptIn is off, so its pods may be touched); %s", ns, levels), "")
	}
	return true
}

// nodeCheck reports whether node is opted in to node-scope stress: the
// stress refuses targets on a node without the label.
func (d *doctor) nodeCheck(ctx context.Context, section, node string) {
	if node == "" {
		return
	}
	n, err := d.client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	switch {
	case err != nil:
		d.report.fail(section, fmt.Sprintf("node %s cannot be read, so a node-scope stress refuses it: %v", node, err),
			fmt.Sprintf("grant %s get on nodes (the chart's ClusterRole does with stress.nodeScope)", d.user))
	case n.Labels[stress.NodeOptInLabel] == "true":
		d.report.ok(section, "node %s opted in to node-scope stress (%s=true)", node, stress.NodeOptInLabel)
	default:
		d.report.fail(section, fmt.Sprintf("node %s is not opted in: a node-scope stress refuses the targets on it", node),
			fmt.Sprintf("kubectl label node %s %s=true (every pod on it shares the stress)", node, stress.NodeOptInLabel))
	}
}

// podSecurityLevels renders a namespace's Pod Security labels:
// "Pod Security enforce=restricted (latest), warn=baseline".
func podSecurityLevels(labels map[string]string) string {
	const prefix = "pod-security.kubernetes.io/"
	var parts []string
	for _, mode := range []string{"enforce", "warn", "audit"} {
		level, ok := labels[prefix+mode]
		if !ok {
			continue
		}
		part := mode + "=" + level
		if v := labels[prefix+mode+"-version"]; v != "" {
			part += " (" + v + ")"
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		return "no Pod Security labels (the cluster's default level applies)"
	}
	return "Pod Security " + strings.Join(parts, ", ")
}

// accessOf is every permission the experiment's action needs in ns.
func (d *doctor) accessOf(exp *experiment.Experiment, ns string, pods []target.Pod, requireOptIn bool) []inject.Access {
	var kinds []string
	for _, p := range pods {
		if p.Owner != nil {
			kinds = append(kinds, p.Owner.Kind)
		}
	}
	out := inject.GuardAccess(ns, requireOptIn, kinds)
	out = append(out, d.g.gateAccess(ns, kinds)...)
	if k := d.kindOf(exp); k != nil {
		out = append(out, k.Access(exp.Spec.Action.Spec, ns)...)
	}
	return out
}

// kindOf is the fault kind of exp's action (nil if not registered, which
// loading has already refused).
func (d *doctor) kindOf(exp *experiment.Experiment) inject.Kind {
	k, err := d.g.faults.Of(exp.Spec.Action)
	if err != nil {
		return nil
	}
	return k
}

// permissions asks the API server about each access (SelfSubjectAccessReview)
// and reports each one missing, or one line for all granted.
func (d *doctor) permissions(ctx context.Context, section, ns string, accesses []inject.Access) {
	var granted []string
	missing := false
	for _, a := range accesses {
		allowed, reason, err := d.can(ctx, a)
		where := "in namespace " + ns
		if a.Namespace == "" {
			where = "(cluster-scoped)"
		}
		switch {
		case err != nil:
			missing = true
			d.report.fail(section, fmt.Sprintf("permission %s %s cannot be checked: %v", a, where, err),
				"grant "+d.user+" create on selfsubjectaccessreviews.authorization.k8s.io (every authenticated user has it by default)")
		case !allowed:
			missing = true
			msg := fmt.Sprintf("permission missing: %s %s, to %s", a, where, a.Why)
			if reason != "" {
				msg += " (" + reason + ")"
			}
			d.report.fail(section, msg, grantFix(d.user, a))
		default:
			granted = append(granted, a.String())
		}
	}
	if !missing && len(granted) > 0 {
		d.report.ok(section, "permissions in namespace %s: %s", ns, strings.Join(granted, ", "))
	}
}

// grantFix says how to grant one permission to user.
func grantFix(user string, a inject.Access) string {
	if a.Namespace == "" {
		return fmt.Sprintf("grant %s %s: kubectl create clusterrole chaosnight-extra %s, and a clusterrolebinding to %s (the chart grants it)", user, a, a.Rule(), user)
	}
	return fmt.Sprintf("grant %s %s in namespace %s: kubectl -n %s create role chaosnight-extra %s, and a rolebinding to %s (the chart grants it)", user, a, a.Namespace, a.Namespace, a.Rule(), user)
}

// can asks one SelfSubjectAccessReview.
func (d *doctor) can(ctx context.Context, a inject.Access) (bool, string, error) {
	r, err := d.client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authzv1.SelfSubjectAccessReview{
		Spec: authzv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authzv1.ResourceAttributes{
			Namespace: a.Namespace, Verb: a.Verb, Group: a.Group, Resource: a.Resource, Subresource: a.Subresource, Name: a.Name,
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		return false, "", err
	}
	return r.Status.Allowed, r.Status.Reason, nil
}

// admission sends, as a server-side dry run, exactly what the experiment
// would send for pod p, and reports the answer.
func (d *doctor) admission(ctx context.Context, section string, exp *experiment.Experiment, p target.Pod) {
	checker, ok := d.kindOf(exp).(inject.AdmissionChecker)
	if !ok {
		return
	}
	what, err := checker.DryRunAdmission(ctx, d.g.injectEnv(&connection{client: d.client}, ""), exp, p)
	if err == nil {
		d.report.ok(section, "admission: the %s is admitted (server-side dry run)", what)
		return
	}
	ref := classifyRefusal(err)
	if ref.Rule == ruleDisruptionBudget {
		d.report.warn(section, fmt.Sprintf("admission: the %s is refused now by a PodDisruptionBudget; a run would report it protected-by-pdb", what), "")
		return
	}
	d.report.add(doctorCheck{
		Section: section, Status: doctorFail, Rule: ref.Rule, Detail: ref.Message,
		Message: fmt.Sprintf("admission: the %s is refused by %s", what, ref.Rule),
		Fix:     ref.fix(p.Namespace, d.user),
	})
}

// prometheus checks that Prometheus answers and that every probe and
// stop condition returns data now.
func (d *doctor) prometheus(ctx context.Context, exps []experiment.Experiment) {
	url := d.g.settings.PrometheusURL
	if url == "" {
		d.report.fail(sectionPrometheus, "no Prometheus URL: the probes cannot be measured",
			"give --prometheus-url URL, or prometheus.url in chaosnight.yaml, or CHAOSNIGHT_PROMETHEUS_URL")
		return
	}
	// The same configuration run and serve use, prometheus.http block
	// included: doctor must not pass where they would fail.
	cfg, err := d.g.prometheusConfig()
	var prom *prometheus.Client
	if err == nil {
		prom, err = prometheus.New(cfg)
	}
	if err != nil {
		d.report.fail(sectionPrometheus, fmt.Sprintf("Prometheus client: %v", err), "fix --prometheus-url and the prometheus.* settings")
		return
	}
	if err := prom.Ping(ctx); err != nil {
		d.report.fail(sectionPrometheus, fmt.Sprintf("Prometheus does not answer: %v", err),
			"check --prometheus-url "+prom.URL()+" (curl "+prom.URL()+"/api/v1/query?query=vector(1)), its token and CA settings")
		return
	}
	d.report.ok(sectionPrometheus, "Prometheus at %s answers queries", prom.URL())
	d.gateNow(ctx, prom)
	for i := range exps {
		exp := &exps[i]
		for _, p := range exp.Spec.Hypothesis.Probes {
			d.probe(ctx, prom, exp.Metadata.Name, "probe", p)
		}
		for _, p := range exp.Spec.StopWhen {
			d.probe(ctx, prom, exp.Metadata.Name, "stop condition", p)
		}
	}
}

// probe runs one query now; an empty result names the metrics with no
// series at all.
func (d *doctor) probe(ctx context.Context, prom *prometheus.Client, exp, kind string, p experiment.Probe) {
	name := fmt.Sprintf("%s %s of %s", kind, p.Name, exp)
	samples, err := prom.Query(ctx, p.Query, time.Time{})
	if err != nil {
		d.report.fail(sectionPrometheus, fmt.Sprintf("%s: the query fails: %v", name, err), "fix the query in Prometheus' own UI first, then in the experiment")
		return
	}
	if len(samples) > 0 {
		d.report.ok(sectionPrometheus, "%s returns %d series now", name, len(samples))
		return
	}
	metrics, _ := experiment.MetricNames(p.Query)
	var missing []string
	for _, m := range metrics {
		got, err := prom.Query(ctx, "count by (__name__) ({__name__="+strconv.Quote(m)+"})", time.Time{})
		if err == nil && len(got) == 0 {
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		d.report.fail(sectionPrometheus, fmt.Sprintf("%s returns no data: no series at all for metric %s", name, strings.Join(missing, ", ")),
			"find the name this cluster uses (Prometheus: {__name__=~\".*"+metricStem(missing[0])+".*\"}) and fix the query, or add the scrape target that exports it")
		return
	}
	emptyOK := kind != "probe" || p.OnEmpty == experiment.OnEmptyPass
	msg := fmt.Sprintf("%s returns no data now, although its metrics have series: its label filters match nothing at the moment", name)
	if emptyOK {
		d.report.warn(sectionPrometheus, msg, "")
		return
	}
	d.report.fail(sectionPrometheus, msg+"; the steady state would not hold (onEmpty: fail)",
		"check the label values in the query, or set onEmpty: pass if no data means healthy")
}

// metricStem is a metric name without its usual suffixes, for a search.
func metricStem(name string) string {
	for _, suffix := range []string{"_total", "_bucket", "_count", "_sum", "_seconds", "_bytes"} {
		name = strings.TrimSuffix(name, suffix)
	}
	return name
}

// nights reports the next window of each night, in its zone.
func (d *doctor) nights(nights []schedule.Night) {
	const day = "Mon 2006-01-02 15:04 MST"
	for _, n := range nights {
		ws := n.Windows(d.now, 1)
		if len(ws) == 0 {
			_, err := n.Next(d.now)
			d.report.fail(sectionNights, fmt.Sprintf("night %s opens no window: %v", n.Name, err), "check its opens, timezone and skip rules (chaosnight schedule --config ...)")
			continue
		}
		w := ws[0]
		if w.Contains(d.now) {
			d.report.ok(sectionNights, "night %s is open now (%s), until %s (%s)", n.Name, w.Location, w.Closes.Format(day), w.Closes.UTC().Format(day))
			continue
		}
		d.report.ok(sectionNights, "night %s: next window opens %s (%s), %s, closes %s", n.Name, w.Opens.Format(day), w.Location,
			w.Opens.UTC().Format(day), w.Closes.Format(day))
	}
}

// Rules of classifyRefusal besides the named admission plugins.
const (
	ruleRBAC             = "RBAC"
	rulePodSecurity      = "Pod Security"
	ruleDisruptionBudget = "a PodDisruptionBudget"
	ruleAPIServer        = "the API server"
)

// refusal is who refused a dry run and what they said.
type refusal struct {
	Rule string // "ValidatingAdmissionPolicy P (binding B)", "admission webhook W", rulePodSecurity, ruleRBAC...
	// Policy, Binding and Webhook name the refusing object, when known.
	Policy, Binding, Webhook string
	// Message is the server's message, verbatim.
	Message string
}

// classifyRefusal reads an API error's Status: its message and causes say
// which admission rule refused.
func classifyRefusal(err error) refusal {
	msg := err.Error()
	var status apierrors.APIStatus
	code := int32(0)
	if errors.As(err, &status) {
		st := status.Status()
		msg, code = st.Message, st.Code
		if msg == "" && st.Details != nil {
			var causes []string
			for _, c := range st.Details.Causes {
				causes = append(causes, c.Message)
			}
			msg = strings.Join(causes, "; ")
		}
	}
	r := refusal{Rule: ruleAPIServer, Message: msg}
	const vap = "ValidatingAdmissionPolicy '"
	switch {
	case strings.Contains(msg, vap):
		rest := msg[strings.Index(msg, vap)+len(vap):]
		r.Policy, rest, _ = strings.Cut(rest, "'")
		if _, b, ok := strings.Cut(rest, "with binding '"); ok {
			r.Binding, _, _ = strings.Cut(b, "'")
		}
		r.Rule = "ValidatingAdmissionPolicy " + r.Policy
		if r.Binding != "" {
			r.Rule += " (binding " + r.Binding + ")"
		}
	case strings.Contains(msg, "admission webhook \""):
		_, rest, _ := strings.Cut(msg, "admission webhook \"")
		r.Webhook, _, _ = strings.Cut(rest, "\"")
		r.Rule = "admission webhook " + r.Webhook
	case strings.Contains(msg, "violates PodSecurity"):
		r.Rule = rulePodSecurity
		if _, rest, ok := strings.Cut(msg, "violates PodSecurity \""); ok {
			level, _, _ := strings.Cut(rest, "\"")
			r.Rule += " (" + level + ")"
		}
	case code == 429 || strings.Contains(msg, "disruption budget"):
		r.Rule = ruleDisruptionBudget
	case apierrors.IsForbidden(err) && strings.Contains(msg, "cannot "):
		r.Rule = ruleRBAC
	}
	return r
}

// fix says what to do about a refusal in namespace ns.
func (r refusal) fix(ns, user string) string {
	switch {
	case r.Policy != "":
		return fmt.Sprintf("the ValidatingAdmissionPolicy %s refuses it: exempt chaosnight's change from its binding %s (matchResources, or a match condition), or leave namespace %s out of the experiment",
			r.Policy, orNone(r.Binding), ns)
	case r.Webhook != "":
		return fmt.Sprintf("the admission webhook %s refuses it: add an exception for chaosnight's change to the policy it enforces, or leave namespace %s out of the experiment", r.Webhook, ns)
	case strings.HasPrefix(r.Rule, rulePodSecurity):
		return fmt.Sprintf("namespace %s enforces a Pod Security level the change does not meet: make the target pod meet it, or lower pod-security.kubernetes.io/enforce on %s", ns, ns)
	case r.Rule == ruleRBAC:
		return "grant " + user + " the permission named in the message (see the permission checks above)"
	}
	return "read the message: the API server refused the change"
}
