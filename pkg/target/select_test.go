package target

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/chaosnight/chaosnight/pkg/experiment"
)

// listServer is a stand-in for the pods LIST endpoint of an API server: it
// evaluates label and field selectors, pages with limit/continue and
// answers in protobuf when asked. It records every request so tests can
// check what was sent. The integration tests run the same assertions
// against the real API server.
type listServer struct {
	t    testing.TB
	pods []corev1.Pod
	// expireOnce makes the first continued request of a namespace ("" for
	// cluster scope) fail with 410 Gone, like an expired continue token.
	expireOnce map[string]bool
	// forbidCluster answers cluster-scoped requests with 403, as RBAC does
	// for a client with only namespaced Roles.
	forbidCluster bool
	// forbidNamespaces answers those namespaces' requests with 403.
	forbidNamespaces map[string]bool
	// jsonOnly answers JSON whatever the client accepts.
	jsonOnly bool

	mu       sync.Mutex
	requests []listRequest
	// cache holds encoded pages by URL and Accept header, so that a
	// benchmark measures the client, not this stub's encoding.
	cache map[string][]byte
}

type listRequest struct {
	Namespace, LabelSelector, FieldSelector, Continue, Accept string
	Limit                                                     int64
}

func (s *listServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// /api/v1/namespaces/{ns}/pods, or /api/v1/pods at cluster scope
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var ns string
	switch {
	case r.Method == http.MethodGet && len(parts) == 5 && parts[2] == "namespaces" && parts[4] == "pods":
		ns = parts[3]
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/pods":
	default:
		http.Error(w, "unexpected request "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	req := listRequest{Namespace: ns, LabelSelector: q.Get("labelSelector"), FieldSelector: q.Get("fieldSelector"),
		Continue: q.Get("continue"), Accept: r.Header.Get("Accept")}
	req.Limit, _ = strconv.ParseInt(q.Get("limit"), 10, 64)
	s.mu.Lock()
	s.requests = append(s.requests, req)
	expire := req.Continue != "" && s.expireOnce[req.Namespace]
	if expire {
		delete(s.expireOnce, req.Namespace)
	}
	forbid := (ns == "" && s.forbidCluster) || s.forbidNamespaces[ns]
	s.mu.Unlock()
	if forbid {
		s.write(w, r, http.StatusForbidden, &apierrors.NewForbidden(corev1.Resource("pods"), "", errors.New("cannot list pods at the cluster scope")).ErrStatus)
		return
	}
	if expire {
		s.write(w, r, http.StatusGone, &apierrors.NewResourceExpired("continue token expired").ErrStatus)
		return
	}
	cacheKey := r.URL.String() + " " + req.Accept
	s.mu.Lock()
	body, cached := s.cache[cacheKey]
	s.mu.Unlock()
	if cached {
		w.Header().Set("Content-Type", s.mediaTypeFor(r))
		_, _ = w.Write(body)
		return
	}
	ls, err := labels.Parse(req.LabelSelector)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fs, err := fields.ParseSelector(req.FieldSelector)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var match []corev1.Pod
	for _, p := range s.pods {
		f := fields.Set{"metadata.name": p.Name, "metadata.namespace": p.Namespace, "status.phase": string(p.Status.Phase), "spec.nodeName": p.Spec.NodeName}
		if (req.Namespace == "" || p.Namespace == req.Namespace) && ls.Matches(labels.Set(p.Labels)) && fs.Matches(f) {
			match = append(match, p)
		}
	}
	start, _ := strconv.Atoi(req.Continue)
	end := len(match)
	if req.Limit > 0 {
		end = min(start+int(req.Limit), len(match))
	}
	list := &corev1.PodList{Items: match[start:end]}
	if end < len(match) {
		list.Continue = strconv.Itoa(end)
	}
	var buf bytes.Buffer
	s.encode(&buf, r, list)
	s.mu.Lock()
	s.cache[cacheKey] = buf.Bytes()
	s.mu.Unlock()
	w.Header().Set("Content-Type", s.mediaTypeFor(r))
	_, _ = w.Write(buf.Bytes())
}

func (s *listServer) mediaTypeFor(r *http.Request) string {
	if !s.jsonOnly && strings.Contains(r.Header.Get("Accept"), runtime.ContentTypeProtobuf) {
		return runtime.ContentTypeProtobuf
	}
	return runtime.ContentTypeJSON
}

func (s *listServer) write(w http.ResponseWriter, r *http.Request, code int, obj runtime.Object) {
	w.Header().Set("Content-Type", s.mediaTypeFor(r))
	w.WriteHeader(code)
	s.encode(w, r, obj)
}

func (s *listServer) encode(w io.Writer, r *http.Request, obj runtime.Object) {
	mediaType := s.mediaTypeFor(r)
	info, ok := runtime.SerializerInfoForMediaType(scheme.Codecs.SupportedMediaTypes(), mediaType)
	if !ok {
		s.t.Errorf("no serializer for %s", mediaType)
		return
	}
	gv := corev1.SchemeGroupVersion
	if _, isStatus := obj.(*metav1.Status); isStatus {
		gv = metav1.SchemeGroupVersion
	}
	if err := scheme.Codecs.EncoderForVersion(info.Serializer, gv).Encode(obj, w); err != nil {
		s.t.Errorf("encode: %v", err)
	}
}

func (s *listServer) log() []listRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

func newListServer(t testing.TB, pods []corev1.Pod) (*listServer, *Selector) {
	t.Helper()
	ls := &listServer{t: t, pods: pods, expireOnce: map[string]bool{}, cache: map[string][]byte{}}
	srv := httptest.NewServer(ls)
	t.Cleanup(srv.Close)
	cs, err := NewClientset(&rest.Config{Host: srv.URL}, 1000, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return ls, &Selector{Client: cs}
}

func kpod(ns, name string, mods ...func(*corev1.Pod)) corev1.Pod {
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name, UID: types.UID("uid-" + ns + "-" + name),
			Labels:            map[string]string{"app": "checkout"},
			CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour)),
			OwnerReferences: []metav1.OwnerReference{
				{APIVersion: "apps/v1", Kind: "Deployment", Name: "not-the-controller", UID: "dep"},
				{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "checkout-7d9", UID: "rs-1", Controller: ptrTo(true)},
			},
		},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "app"}, {Name: "sidecar"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue},
		}},
	}
	for _, m := range mods {
		m(&p)
	}
	return p
}

func ptrTo[T any](v T) *T { return &v }

func TestFromPod(t *testing.T) {
	del := metav1.NewTime(t0)
	p := kpod("shop", "checkout-1", func(p *corev1.Pod) {
		p.DeletionTimestamp = &del
		p.Status.Conditions[1].Status = corev1.ConditionFalse
	})
	got := FromPod(&p)
	want := Pod{
		Namespace: "shop", Name: "checkout-1", UID: "uid-shop-checkout-1", Node: "node-1",
		Owner:   &Owner{Kind: "ReplicaSet", Name: "checkout-7d9", UID: "rs-1"},
		Labels:  map[string]string{"app": "checkout"},
		Created: t0.Add(-time.Hour), Phase: "Running", Ready: false, Terminating: true,
		Containers: []string{"app", "sidecar"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FromPod:\n got %+v\nwant %+v", got, want)
	}
	bare := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "solo", UID: "u"}}
	if got := FromPod(&bare); got.Owner != nil || got.Ready || got.Containers != nil {
		t.Errorf("FromPod(bare) = %+v, want no owner, not ready, no containers", got)
	}
	if k := OwnerKey(FromPod(&bare)); k != "pod/shop/solo/u" {
		t.Errorf("OwnerKey(bare) = %q", k)
	}
}

func TestSelectorList(t *testing.T) {
	var pods []corev1.Pod
	for i := range 7 {
		pods = append(pods, kpod("shop", fmt.Sprintf("checkout-%d", i)))
	}
	pods = append(pods,
		kpod("shop", "pending", func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }),
		kpod("shop", "lookalike", func(p *corev1.Pod) { p.Labels = map[string]string{"app": "checkout-canary"} }),
		kpod("shop", "on-node-2", func(p *corev1.Pod) { p.Spec.NodeName = "node-2" }),
		kpod("cart", "checkout-0"),
		kpod("kube-system", "checkout-0"),
	)
	ls, sel := newListServer(t, pods)
	sel.PageSize = 3

	got, st, err := sel.List(context.Background(), experiment.Target{
		Namespaces: []string{"shop", "cart", "shop"}, Selector: "app=checkout", FieldSelector: "spec.nodeName=node-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"shop/checkout-0", "shop/checkout-1", "shop/checkout-2", "shop/checkout-3", "shop/checkout-4", "shop/checkout-5", "shop/checkout-6", "cart/checkout-0"}
	if !slices.Equal(keys(got), want) {
		t.Errorf("pods = %v, want %v", keys(got), want)
	}
	// shop: 7 pods in pages of 3 = 3 requests; cart: 1. The duplicate namespace is listed once.
	if want := (Stats{Namespaces: 2, Scope: ScopeNamespace, Requests: 4, PodsSeen: 8}); st != want {
		t.Errorf("stats = %+v, want %+v", st, want)
	}
	reqs := ls.log()
	if len(reqs) != st.Requests {
		t.Fatalf("server saw %d requests, stats say %d", len(reqs), st.Requests)
	}
	for _, r := range reqs {
		if r.LabelSelector != "app=checkout" || r.FieldSelector != "status.phase=Running,spec.nodeName=node-1" || r.Limit != 3 {
			t.Errorf("request %+v: selectors or limit not sent server-side", r)
		}
		if !strings.HasPrefix(r.Accept, runtime.ContentTypeProtobuf) {
			t.Errorf("request %+v: does not ask for protobuf", r)
		}
	}
	var shop []listRequest
	for _, r := range reqs {
		if r.Namespace == "shop" {
			shop = append(shop, r) // namespaces are listed concurrently: only each one's own order is fixed
		}
	}
	if len(shop) != 3 || shop[1].Continue != "3" || shop[2].Continue != "6" {
		t.Errorf("continue tokens not followed: %+v", shop)
	}
}

func TestSelectorListRestartsOnExpiredContinue(t *testing.T) {
	var pods []corev1.Pod
	for i := range 5 {
		pods = append(pods, kpod("shop", fmt.Sprintf("p%d", i)))
	}
	ls, sel := newListServer(t, pods)
	sel.PageSize = 2
	ls.expireOnce["shop"] = true
	got, st, err := sel.List(context.Background(), experiment.Target{Namespaces: []string{"shop"}, Selector: "app"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"shop/p0", "shop/p1", "shop/p2", "shop/p3", "shop/p4"}; !slices.Equal(keys(got), want) {
		t.Errorf("pods = %v, want %v (no duplicates after the restart)", keys(got), want)
	}
	// page 1, expired page 2, then 3 pages from the start.
	if st.Restarts != 1 || st.Requests != 5 {
		t.Errorf("stats = %+v, want 1 restart, 5 requests", st)
	}
}

// manyNamespaces returns pods app=checkout in n namespaces ns-0..ns-(n-1)
// (perNS each) plus pods with the same labels in other namespaces.
func manyNamespaces(n, perNS, elsewhere int) (pods []corev1.Pod, target []string) {
	for i := range n {
		ns := fmt.Sprintf("ns-%d", i)
		target = append(target, ns)
		for j := range perNS {
			pods = append(pods, kpod(ns, fmt.Sprintf("p%d", j)))
		}
	}
	for j := range elsewhere {
		pods = append(pods, kpod("other", fmt.Sprintf("p%d", j)))
	}
	return pods, target
}

func TestSelectorListClusterScope(t *testing.T) {
	pods, namespaces := manyNamespaces(6, 3, 4)
	pods = append(pods, kpod("ns-0", "canary", func(p *corev1.Pod) { p.Labels = map[string]string{"app": "checkout-canary"} }))
	ls, sel := newListServer(t, pods)
	sel.ClusterScopeMin = 5 // below DefaultClusterScopeMin: the tests stay small
	sel.PageSize = 5
	got, st, err := sel.List(context.Background(), experiment.Target{Namespaces: namespaces, Selector: "app=checkout"})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, ns := range namespaces {
		for j := range 3 {
			want = append(want, fmt.Sprintf("%s/p%d", ns, j))
		}
	}
	if !slices.Equal(keys(got), want) {
		t.Errorf("pods = %v, want %v (nothing from other namespaces)", keys(got), want)
	}
	// 22 matching pods in the cluster, pages of 5.
	if want := (Stats{Namespaces: 6, Scope: ScopeCluster, Requests: 5, PodsSeen: 22}); st != want {
		t.Errorf("stats = %+v, want %+v", st, want)
	}
	for _, r := range ls.log() {
		if r.Namespace != "" || r.LabelSelector != "app=checkout" || r.FieldSelector != "status.phase=Running" {
			t.Errorf("request %+v: want cluster scope with the selectors", r)
		}
	}

	// Below the threshold, or with the cluster scope turned off: per namespace.
	for _, tc := range []struct {
		name string
		min  int
		ns   []string
	}{{"few namespaces", 0, namespaces[:4]}, {"disabled", -1, namespaces}} {
		t.Run(tc.name, func(t *testing.T) {
			ls, sel := newListServer(t, pods)
			sel.ClusterScopeMin = tc.min
			_, st, err := sel.List(context.Background(), experiment.Target{Namespaces: tc.ns, Selector: "app=checkout"})
			if err != nil {
				t.Fatal(err)
			}
			if st.Scope != ScopeNamespace || st.Requests != len(tc.ns) || st.Fallback != "" {
				t.Errorf("stats = %+v, want one request per namespace", st)
			}
			for _, r := range ls.log() {
				if r.Namespace == "" {
					t.Errorf("cluster-scoped request %+v", r)
				}
			}
		})
	}
}

func TestSelectorListClusterScopeForbidden(t *testing.T) {
	pods, namespaces := manyNamespaces(5, 2, 0)
	ls, sel := newListServer(t, pods)
	sel.ClusterScopeMin = 5 // below DefaultClusterScopeMin: the tests stay small
	ls.forbidCluster = true
	tg := experiment.Target{Namespaces: namespaces, Selector: "app=checkout"}
	got, st, err := sel.List(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 {
		t.Errorf("got %d pods, want 10", len(got))
	}
	if want := (Stats{Namespaces: 5, Scope: ScopeNamespace, Fallback: "cluster-scoped LIST forbidden", Requests: 6, PodsSeen: 10}); st != want {
		t.Errorf("stats = %+v, want %+v", st, want)
	}
	// The Forbidden is remembered: no second cluster-scoped attempt.
	_, st, err = sel.List(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	if st.Requests != 5 || !strings.Contains(st.Fallback, "forbidden") {
		t.Errorf("second list: stats = %+v, want 5 requests and the remembered fallback", st)
	}
	if n := len(ls.log()); n != 11 {
		t.Errorf("server saw %d requests, want 11", n)
	}
}

func TestSelectorListClusterScopeWasteful(t *testing.T) {
	// 5 target namespaces with 1 pod each; 40 look-alikes elsewhere, first
	// in API order.
	var pods []corev1.Pod
	for j := range 40 {
		pods = append(pods, kpod("aaa", fmt.Sprintf("p%02d", j)))
	}
	more, namespaces := manyNamespaces(5, 1, 0)
	pods = append(pods, more...)
	ls, sel := newListServer(t, pods)
	sel.ClusterScopeMin = 5 // below DefaultClusterScopeMin: the tests stay small
	sel.PageSize = 10
	got, st, err := sel.List(context.Background(), experiment.Target{Namespaces: namespaces, Selector: "app=checkout"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Errorf("got %v, want the 5 target pods", keys(got))
	}
	// One cluster page (10 pods, all outside), then 5 namespaces.
	if st.Scope != ScopeNamespace || st.Requests != 6 || !strings.Contains(st.Fallback, "10 of 10 pods were outside") {
		t.Errorf("stats = %+v", st)
	}
	if n := len(ls.log()); n != 6 {
		t.Errorf("server saw %d requests, want 6", n)
	}
}

func TestSelectorListClusterScopeExpiredContinue(t *testing.T) {
	pods, namespaces := manyNamespaces(5, 2, 0)
	ls, sel := newListServer(t, pods)
	sel.ClusterScopeMin = 5 // below DefaultClusterScopeMin: the tests stay small
	sel.PageSize = 4
	ls.expireOnce[""] = true
	got, st, err := sel.List(context.Background(), experiment.Target{Namespaces: namespaces, Selector: "app=checkout"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 || len(keys(got)) != len(slices.Compact(slices.Sorted(slices.Values(keys(got))))) {
		t.Errorf("pods = %v, want 10 distinct", keys(got))
	}
	// page 1, expired page 2, then 3 pages from the start.
	if want := (Stats{Namespaces: 5, Scope: ScopeCluster, Requests: 5, Restarts: 1, PodsSeen: 14}); st != want {
		t.Errorf("stats = %+v, want %+v", st, want)
	}
}

func TestSelectorListJSONAnswer(t *testing.T) {
	pods := []corev1.Pod{kpod("shop", "a"), kpod("shop", "b")}
	ls, sel := newListServer(t, pods)
	ls.jsonOnly = true
	got, _, err := sel.List(context.Background(), experiment.Target{Namespaces: []string{"shop"}, Selector: "app=checkout"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Pod{FromPod(&pods[0]), FromPod(&pods[1])}
	for _, ps := range [][]Pod{got, want} {
		for i := range ps {
			ps[i].Created = ps[i].Created.UTC() // JSON decodes to UTC, protobuf to local time
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("from a JSON answer:\n got %+v\nwant %+v", got, want)
	}
}

func TestListPods(t *testing.T) {
	pods := []corev1.Pod{
		kpod("shop", "a"), kpod("shop", "b"), kpod("shop", "c"),
		kpod("shop", "pending", func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }),
		kpod("cart", "a"),
	}
	ls, sel := newListServer(t, pods)
	var got []Pod
	n, err := ListPods(context.Background(), sel.Client, "shop", metav1.ListOptions{LabelSelector: "app=checkout", Limit: 3}, func(p Pod) { got = append(got, p) })
	if err != nil {
		t.Fatal(err)
	}
	// No field selector of its own: the pending pod is there too.
	if want := []string{"shop/a", "shop/b", "shop/c", "shop/pending"}; !slices.Equal(keys(got), want) || n != 2 {
		t.Errorf("pods = %v in %d requests, want %v in 2", keys(got), n, want)
	}
	want := FromPod(&pods[0])
	got[0].Created, want.Created = got[0].Created.UTC(), want.Created.UTC() // protobuf decodes to local time
	if !reflect.DeepEqual(got[0], want) {
		t.Errorf("pod:\n got %+v\nwant %+v", got[0], want)
	}
	for _, r := range ls.log() {
		if r.FieldSelector != "" || r.LabelSelector != "app=checkout" || r.Namespace != "shop" {
			t.Errorf("request %+v", r)
		}
	}

	ls.expireOnce["shop"] = true
	_, err = ListPods(context.Background(), sel.Client, "shop", metav1.ListOptions{Limit: 1}, func(Pod) {})
	if !apierrors.IsResourceExpired(err) || !strings.HasPrefix(err.Error(), "list pods in namespace shop: ") {
		t.Errorf("err = %v, want a wrapped expired continue token", err)
	}
	if _, err := ListPods(context.Background(), nil, "", metav1.ListOptions{}, func(Pod) {}); err == nil {
		t.Error("nil client: no error")
	}
}

func TestSelectorListErrors(t *testing.T) {
	_, sel := newListServer(t, nil)
	tests := []struct {
		name   string
		target experiment.Target
		want   string
	}{
		{"no namespaces", experiment.Target{Selector: "app=x"}, "list pods: no namespaces: the blast radius must be spelled out"},
		{"empty selector", experiment.Target{Namespaces: []string{"shop"}, Selector: " "}, "list pods: empty label selector: refusing to select every pod"},
		{"bad selector", experiment.Target{Namespaces: []string{"shop"}, Selector: "app in (x"}, `list pods: parse label selector "app in (x": `},
		{"bad field selector", experiment.Target{Namespaces: []string{"shop"}, Selector: "app", FieldSelector: "spec.nodeName"}, `list pods: parse field selector "spec.nodeName": `},
		{"empty namespace", experiment.Target{Namespaces: []string{""}, Selector: "app"}, "list pods: empty namespace name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := sel.List(context.Background(), tc.target)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("err = %v, want prefix %q", err, tc.want)
			}
		})
	}
	if _, _, err := (&Selector{}).List(context.Background(), experiment.Target{Namespaces: []string{"shop"}, Selector: "app"}); err == nil {
		t.Error("nil client: no error")
	}
}

func TestSelectorListServerError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "forbidden", http.StatusForbidden)
	}))
	defer srv.Close()
	cs, err := NewClientset(&rest.Config{Host: srv.URL}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = (&Selector{Client: cs}).List(context.Background(), experiment.Target{Namespaces: []string{"shop"}, Selector: "app"})
	if err == nil || !strings.HasPrefix(err.Error(), "list pods in namespace shop: ") || !apierrors.IsForbidden(err) {
		t.Errorf("err = %v, want a wrapped Forbidden naming the namespace", err)
	}
}

// BenchmarkSelect lists 10,000 matching pods (plus 2,000 non-matching ones)
// through a real client against the protobuf stub, then filters and picks,
// which is the whole selection path of one pod-kill tick. It measures the
// client side: decoding pages and keeping slim values.
func BenchmarkSelect(b *testing.B) {
	var pods []corev1.Pod
	for i := range 12000 {
		p := kpod("shop", fmt.Sprintf("checkout-%05d", i))
		if i%6 == 5 {
			p.Labels = map[string]string{"app": "cart"}
		}
		p.Labels["pod-template-hash"] = "7d9c8b6f5"
		p.Spec.Containers[0].Image = "registry.example/shop/checkout:1.2.3"
		pods = append(pods, p)
	}
	_, sel := newListServer(b, pods)
	target := experiment.Target{Namespaces: []string{"shop"}, Selector: "app=checkout", Pick: experiment.Pick{Count: ptr(100)}}
	// Warm the stub's page cache so the loop measures the client only.
	if _, _, err := sel.List(context.Background(), target); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		got, st, err := sel.List(context.Background(), target)
		if err != nil {
			b.Fatal(err)
		}
		if st.PodsSeen != 10000 {
			b.Fatalf("saw %d pods", st.PodsSeen)
		}
		el, _ := Eligible(got, target, t0)
		if n := len(Pick(el, target.Pick, true, NewRand(1))); n != 1 {
			b.Fatalf("picked %d", n)
		}
	}
}

// TestSelectorListsNamespacesConcurrently proves that the per-namespace
// listing, done Concurrency namespaces at a time, returns the pods in the
// target's namespace order (a seeded pick must pick the same pods however
// the requests interleave), counts every request, and answers a refused
// namespace with the first refusal in that order, every time.
func TestSelectorListsNamespacesConcurrently(t *testing.T) {
	pods, namespaces := manyNamespaces(12, 3, 0)
	slices.Reverse(namespaces) // not the server's order
	ls, sel := newListServer(t, pods)
	sel.PageSize, sel.Concurrency = 2, 3
	got, st, err := sel.List(context.Background(), experiment.Target{Namespaces: namespaces, Selector: "app=checkout"})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, ns := range namespaces {
		for j := range 3 {
			want = append(want, fmt.Sprintf("%s/p%d", ns, j))
		}
	}
	if !slices.Equal(keys(got), want) {
		t.Errorf("pods = %v,\nwant %v", keys(got), want)
	}
	// 12 namespaces below DefaultClusterScopeMin: per namespace, 2 pages each.
	if want := (Stats{Namespaces: 12, Scope: ScopeNamespace, Requests: 24, PodsSeen: 36}); st != want || len(ls.log()) != 24 {
		t.Errorf("stats = %+v (server saw %d), want %+v", st, len(ls.log()), want)
	}

	ls.forbidNamespaces = map[string]bool{"ns-2": true, "ns-8": true} // ns-8 comes first in the target's order
	for range 10 {
		_, _, err := sel.List(context.Background(), experiment.Target{Namespaces: namespaces, Selector: "app=checkout"})
		if !apierrors.IsForbidden(err) || !strings.HasPrefix(err.Error(), "list pods in namespace ns-8: ") {
			t.Fatalf("err = %v, want the refusal of ns-8, the first in order", err)
		}
	}
}
