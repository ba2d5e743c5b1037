// Package schedule holds chaos nights: the nights section of the serve
// configuration (and the shape of the rest of that file), the windows a
// night opens (cron opening in a time zone, elapsed duration, skipped
// dates and weekdays, DST), and the plan of the experiments a window plays.
//
// Everything here is pure: time comes in as an argument (the chaoskube
// habit of an injected clock), so windows and plans are tested with fixed
// instants, and the runner can call Plan at every decision point.
package schedule

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/chaosnight/chaosnight/pkg/experiment"
)

// Config is the whole serve configuration file (chaosnight.yaml). The CLI
// reads the scalar settings through viper (flag > CHAOSNIGHT_* environment
// > file > default); this type exists so that the file itself is decoded
// strictly, with a FILE:LINE problem for every mistake, and so that the
// nights, which only a file can express, reach the runner as plain values.
//
// Every key of chaosnight.yaml is declared here, on purpose: a key that is
// not is refused as unknown, because a typo ("nigths:", "dryrun:") must
// not silently disable a setting. A new setting therefore needs its field
// here as well as its viper key in the CLI.
type Config struct {
	Kubeconfig string     `yaml:"kubeconfig,omitempty"`
	Context    string     `yaml:"context,omitempty"`
	Namespace  string     `yaml:"namespace,omitempty"`
	Prometheus Prometheus `yaml:"prometheus,omitempty"`
	Log        Log        `yaml:"log,omitempty"`
	Kube       Kube       `yaml:"kube,omitempty"`
	// Experiments is the directory (or file) of the experiments the
	// nights choose from.
	Experiments string  `yaml:"experiments,omitempty"`
	Journal     Journal `yaml:"journal,omitempty"`
	// DryRun is true when unset: serve is safe by default, like chaoskube.
	DryRun *bool   `yaml:"dryRun,omitempty"`
	Safety Safety  `yaml:"safety,omitempty"`
	Nights []Night `yaml:"nights,omitempty"`
	// Listen is the address of serve's HTTP endpoints (default :8080).
	Listen string `yaml:"listen,omitempty"`
	// LeaderElection lets only one of several serve replicas inject.
	LeaderElection LeaderElection `yaml:"leaderElection,omitempty"`
	// Stress configures the stress injections.
	Stress Stress `yaml:"stress,omitempty"`
	// KillSwitch says where the one kill switch lives.
	KillSwitch KillSwitch `yaml:"killSwitch,omitempty"`
	// Gate is the incident-aware gate (gate.go).
	Gate Gate `yaml:"gate,omitempty"`
	// CustomResources makes serve read Experiment and ChaosNight custom
	// resources from the cluster, besides (or instead of) the files.
	CustomResources CustomResources `yaml:"customResources,omitempty"`
	// ExternalURL is the runner's page as users reach it (the chart's
	// Service URL, or an ingress); an Experiment's status.lastRun.reportURL
	// is this URL + /runs/ID. Empty: no reportURL.
	ExternalURL string `yaml:"externalURL,omitempty"`
}

// CustomResources configures the cluster as a source of experiments and
// nights (docs/kubernetes-native.md).
type CustomResources struct {
	// Enabled reads Experiment and ChaosNight objects (false when unset:
	// a serve on a laptop needs no CRDs; the chart turns it on).
	Enabled bool `yaml:"enabled,omitempty"`
	// Namespaces are where they are read; empty: every namespace.
	Namespaces []string `yaml:"namespaces,omitempty"`
}

// KillSwitch locates the kill switch every run, runner, pause, resume and
// status reads.
type KillSwitch struct {
	// Namespace holds the kill switch ConfigMap (default chaosnight; the
	// chart's release namespace in the cluster).
	Namespace string `yaml:"namespace,omitempty"`
}

// LeaderElection configures serve's leader election on a Lease.
type LeaderElection struct {
	// Enabled is true when unset.
	Enabled   *bool  `yaml:"enabled,omitempty"`
	LeaseName string `yaml:"leaseName,omitempty"`
}

// Stress configures stress injections.
type Stress struct {
	// Image runs the stressor (default: the chaosnight image of the same version).
	Image string `yaml:"image,omitempty"`
	// StartTimeout bounds the start of a stress (image pull) (default 1m).
	StartTimeout experiment.Duration `yaml:"startTimeout,omitempty"`
}

// Prometheus is the connection the probes use.
type Prometheus struct {
	URL                string              `yaml:"url,omitempty"`
	BearerTokenFile    string              `yaml:"bearerTokenFile,omitempty"`
	CAFile             string              `yaml:"caFile,omitempty"`
	InsecureSkipVerify bool                `yaml:"insecureSkipVerify,omitempty"`
	Timeout            experiment.Duration `yaml:"timeout,omitempty"`
}

// Log is the runner's own logging.
type Log struct {
	Format string `yaml:"format,omitempty"`
	Level  string `yaml:"level,omitempty"`
}

// Kube is the client-side rate limit of Kubernetes API requests.
type Kube struct {
	QPS   float64 `yaml:"qps,omitempty"`
	Burst int     `yaml:"burst,omitempty"`
}

// Journal is where run records go and how long they are kept.
type Journal struct {
	Directory string `yaml:"directory,omitempty"`
	// Retention is how long a journal is kept; 0 keeps them forever.
	Retention experiment.Duration `yaml:"retention,omitempty"`
}

// Safety holds the guard's defaults for every experiment the runner plays.
type Safety struct {
	// ExcludeNamespaces are protected in addition to the floor (the system
	// namespaces and chaosnight's own).
	ExcludeNamespaces []string `yaml:"excludeNamespaces,omitempty"`
	// AllowSystemNamespaces lifts the named system namespaces from the
	// floor (the CLI checks that each is one).
	AllowSystemNamespaces []string `yaml:"allowSystemNamespaces,omitempty"`
	// MaxTargets is the operator's ceiling over every experiment's
	// maxTargets; MinHealthy the operator's floor under every experiment's
	// minHealthy. 0: none.
	MaxTargets int `yaml:"maxTargets,omitempty"`
	MinHealthy int `yaml:"minHealthy,omitempty"`
	// RequireOptIn is true when unset.
	RequireOptIn *bool `yaml:"requireOptIn,omitempty"`
}

// ServeDryRun is the dry-run setting of serve: true unless the file says
// otherwise.
func (c *Config) ServeDryRun() bool {
	return c.DryRun == nil || *c.DryRun
}

// Order values: how a night orders the experiments it plays.
const (
	OrderListed   = "listed"   // names in the order written; selector matches by name
	OrderShuffled = "shuffled" // a seeded order, recorded so a night can be replayed
)

// MaxLasts bounds a night's duration: a window that lasts a week or more
// is not a night, and bounding it keeps OpenAt's look-back short.
const MaxLasts = 7 * 24 * time.Hour

// Night is one recurring chaos night: windows that open on a cron
// schedule in a time zone, last a fixed elapsed time, and play the
// experiments selected for them.
type Night struct {
	// Name identifies the night in plans, journals and metrics (a DNS-1123
	// label).
	Name string `yaml:"name"`
	// Opens is a five-field cron expression (minute hour day-of-month
	// month day-of-week, robfig/cron/v3's standard parser) or a descriptor
	// such as @daily, read in Timezone. @every is refused: it counts from
	// whenever the runner started, so it defines no fixed windows.
	Opens string `yaml:"opens"`
	// Lasts is the elapsed time a window stays open: a 6h window that
	// crosses a DST change still lasts 6 real hours, so it closes an hour
	// later or earlier on the wall clock.
	Lasts experiment.Duration `yaml:"lasts"`
	// Timezone is the IANA zone (Europe/Paris, UTC) of Opens and Skip.
	Timezone string `yaml:"timezone"`
	// Skip lists the local dates and weekdays on which the night does not
	// open.
	Skip Skip `yaml:"skip,omitempty"`
	// Experiments selects what the night plays.
	Experiments Selection `yaml:"experiments"`
	// Order is OrderListed (the default) or OrderShuffled.
	Order string `yaml:"order,omitempty"`
	// Cooldown is the pause between the end of one experiment (its
	// recovery included) and the start of the next.
	Cooldown experiment.Duration `yaml:"cooldown,omitempty"`
	// MaxPerNight caps the experiments played in one window; 0 means no
	// cap.
	MaxPerNight int `yaml:"maxPerNight,omitempty"`
}

// Skip says when a night does not open. Both rules look at the local date
// (in the night's time zone) on which a window opens: a night that opens
// on Thursday at 22:00 and runs into Friday is not affected by skipping
// Fridays.
type Skip struct {
	// Dates are YYYY-MM-DD local dates.
	Dates []string `yaml:"dates,omitempty"`
	// Weekdays are Mon..Sun or Monday..Sunday, in any case.
	Weekdays []string `yaml:"weekdays,omitempty"`
}

// Selection chooses the experiments a night plays: by a label selector on
// their metadata.labels, or by name. Exactly one is set, so that what a
// night may touch is always written down and never ambiguous.
type Selection struct {
	Selector string   `yaml:"selector,omitempty"`
	Names    []string `yaml:"names,omitempty"`
}

// LoadConfig decodes and validates a serve configuration file. The file
// name is only used in problems. now is the instant from which the
// windows of each night are checked for overlaps (the coming year).
//
// On bad input the error is an experiment.Problems listing everything
// wrong with the file, FILE:LINE: field: message, and the Config is nil.
func LoadConfig(file string, data []byte, now time.Time) (*Config, error) {
	var c Config
	f := experiment.DecodeStrict(file, data, &c)
	if f.Decoded() {
		c.validate(f, now)
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	return &c, nil
}

// LoadConfigFile reads and loads one configuration file; see LoadConfig.
func LoadConfigFile(path string, now time.Time) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, experiment.Problems{{File: path, Message: "does not exist"}}
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is already in front of the message
		}
		return nil, experiment.Problems{{File: path, Message: fmt.Sprintf("cannot read: %v", err)}}
	}
	return LoadConfig(path, data, now)
}

// Validate checks a configuration built in Go (its problems have no line).
// It returns nil or an experiment.Problems.
func (c *Config) Validate(now time.Time) error {
	f := experiment.NewFindings("")
	c.validate(f, now)
	return f.Err()
}
