package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// StateStore remembers which experiments each window already played (or
// skipped), outside the process: a new leader, or a restarted runner,
// must not replay them.
type StateStore interface {
	Load(ctx context.Context) (map[string][]string, error)
	// MarkDone claims an experiment of a window: it records it as done and
	// returns an *AlreadyDoneError if it was already recorded (by another
	// leader, or before a restart). The check and the write are one atomic
	// update, so two runners can never both claim the same experiment.
	MarkDone(ctx context.Context, window, experiment string) error
	Forget(ctx context.Context, window string) error
}

// AlreadyDoneError is MarkDone's answer for an experiment the state
// already records as done in that window (check with errors.As).
type AlreadyDoneError struct {
	Window, Experiment string
}

func (e *AlreadyDoneError) Error() string {
	return fmt.Sprintf("experiment %s was already played or skipped in window %s", e.Experiment, e.Window)
}

// DefaultStateName is the ConfigMap of ConfigMapState.
const DefaultStateName = "chaosnight-state"

// ConfigMapState keeps the state in a ConfigMap of the runner's namespace:
// one key per open window, holding the JSON list of experiments done.
type ConfigMapState struct {
	Client    kubernetes.Interface
	Namespace string
	Name      string // default DefaultStateName
}

func (s *ConfigMapState) name() string {
	if s.Name == "" {
		return DefaultStateName
	}
	return s.Name
}

// stateKey turns a window key into a valid ConfigMap data key.
func stateKey(window string) string {
	return strings.NewReplacer(":", "-", "@", ".", "+", "_").Replace(window)
}

// Load implements StateStore.
func (s *ConfigMapState) Load(ctx context.Context) (map[string][]string, error) {
	cm, err := s.Client.CoreV1().ConfigMaps(s.Namespace).Get(ctx, s.name(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return map[string][]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the runner state configmap/%s: %w", s.name(), err)
	}
	out := map[string][]string{}
	for k, v := range cm.Data {
		var names []string
		if err := json.Unmarshal([]byte(v), &names); err == nil {
			out[k] = names
		}
	}
	return out, nil
}

// MarkDone implements StateStore.
func (s *ConfigMapState) MarkDone(ctx context.Context, window, experiment string) error {
	key := stateKey(window)
	return s.update(ctx, func(data map[string]string) error {
		var names []string
		_ = json.Unmarshal([]byte(data[key]), &names)
		for _, n := range names {
			if n == experiment {
				return &AlreadyDoneError{Window: window, Experiment: experiment}
			}
		}
		names = append(names, experiment)
		sort.Strings(names)
		b, _ := json.Marshal(names)
		data[key] = string(b)
		return nil
	})
}

// Forget implements StateStore.
func (s *ConfigMapState) Forget(ctx context.Context, window string) error {
	key := stateKey(window)
	return s.update(ctx, func(data map[string]string) error {
		delete(data, key)
		return nil
	})
}

// update reads the ConfigMap, applies change and writes it back with the
// resourceVersion it read: a concurrent writer makes it start over, so
// change always sees the latest data. An error from change stops it
// without writing.
func (s *ConfigMapState) update(ctx context.Context, change func(map[string]string) error) error {
	cms := s.Client.CoreV1().ConfigMaps(s.Namespace)
	var changeErr error
	// AlreadyExists is a conflict too: another runner created the
	// ConfigMap between our read and our create.
	err := retry.OnError(retry.DefaultRetry, func(err error) bool {
		return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)
	}, func() error {
		changeErr = nil
		cm, err := cms.Get(ctx, s.name(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			data := map[string]string{}
			if changeErr = change(data); changeErr != nil {
				return nil
			}
			_, err = cms.Create(ctx, &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: s.name(), Namespace: s.Namespace,
					Labels: map[string]string{"app.kubernetes.io/managed-by": "chaosnight"}},
				Data: data,
			}, metav1.CreateOptions{})
			return err
		}
		if err != nil {
			return err
		}
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		if changeErr = change(cm.Data); changeErr != nil {
			return nil
		}
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("updating the runner state configmap/%s: %w", s.name(), err)
	}
	return changeErr
}

// memoryState is the StateStore of a runner without a cluster store.
type memoryState struct{}

func (memoryState) Load(context.Context) (map[string][]string, error) { return nil, nil }
func (memoryState) MarkDone(context.Context, string, string) error    { return nil }
func (memoryState) Forget(context.Context, string) error              { return nil }

// stateTimeout bounds one state update.
const stateTimeout = 10 * time.Second
