package stress

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/chaosnight/chaosnight/pkg/inject"
)

// Keys of Injection.State. The state is flat text, readable in the
// journal, and holds everything Revert needs, so a revert from a journal
// after a crash works without the injector that made it.
//
//	scope:                 pod | node
//	deadline:              RFC 3339; every stress started ends by itself by then
//	container:             (pod scope) the ephemeral container's name
//	pod:NAMESPACE/NAME:    (pod scope) UID of a pod the container was added to
//	helper:NAMESPACE/NAME: (node scope) "NODE UID" of a helper pod created
const (
	StateScope     = "scope"
	StateDeadline  = inject.StateDeadline
	StateContainer = "container"
	statePod       = "pod:"
	stateHelper    = "helper:"
)

// State is the decoded Injection.State of a stress injection.
type State struct {
	Scope     string
	Deadline  time.Time
	Container string        // pod scope
	Pods      []StatePod    // pod scope: pods the ephemeral container was added to
	Helpers   []StateHelper // node scope: helper pods created
}

// StatePod is a pod holding the stress container.
type StatePod struct {
	Namespace, Name, UID string
}

// StateHelper is a helper pod.
type StateHelper struct {
	Namespace, Name, Node, UID string
}

// Encode returns the Injection.State form.
func (s State) Encode() map[string]string {
	m := map[string]string{StateScope: s.Scope}
	if !s.Deadline.IsZero() {
		m[StateDeadline] = s.Deadline.UTC().Format(time.RFC3339)
	}
	if s.Container != "" {
		m[StateContainer] = s.Container
	}
	for _, p := range s.Pods {
		m[statePod+p.Namespace+"/"+p.Name] = p.UID
	}
	for _, h := range s.Helpers {
		m[stateHelper+h.Namespace+"/"+h.Name] = h.Node + " " + h.UID
	}
	return m
}

// DecodeState reads an Injection.State written by Encode. Entries come
// back sorted by namespace and name, whatever the map order.
func DecodeState(m map[string]string) (State, error) {
	s := State{Scope: m[StateScope], Container: m[StateContainer]}
	var problems []string
	if d := m[StateDeadline]; d != "" {
		t, err := time.Parse(time.RFC3339, d)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s %q is not an RFC 3339 time", StateDeadline, d))
		}
		s.Deadline = t
	}
	for k, v := range m {
		switch {
		case strings.HasPrefix(k, statePod):
			ns, name, ok := splitKey(strings.TrimPrefix(k, statePod))
			if !ok || v == "" {
				problems = append(problems, fmt.Sprintf("bad pod entry %q=%q", k, v))
				continue
			}
			s.Pods = append(s.Pods, StatePod{Namespace: ns, Name: name, UID: v})
		case strings.HasPrefix(k, stateHelper):
			ns, name, ok := splitKey(strings.TrimPrefix(k, stateHelper))
			node, uid, ok2 := strings.Cut(v, " ")
			if !ok || !ok2 || node == "" || uid == "" {
				problems = append(problems, fmt.Sprintf("bad helper entry %q=%q", k, v))
				continue
			}
			s.Helpers = append(s.Helpers, StateHelper{Namespace: ns, Name: name, Node: node, UID: uid})
		}
	}
	slices.SortFunc(s.Pods, func(a, b StatePod) int { return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name) })
	slices.SortFunc(s.Helpers, func(a, b StateHelper) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	switch {
	case s.Scope == "" && len(m) > 0:
		problems = append(problems, "no "+StateScope)
	case s.Scope == scopePod && len(s.Pods) > 0 && s.Container == "":
		problems = append(problems, "pod entries without a "+StateContainer)
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return s, fmt.Errorf("stress state: %s", strings.Join(problems, "; "))
	}
	return s, nil
}

func splitKey(k string) (ns, name string, ok bool) {
	ns, name, ok = strings.Cut(k, "/")
	return ns, name, ok && ns != "" && name != ""
}
