package target

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/randfill"
)

// richPod has every kind of field the decoder must skip or read: managed
// fields, volumes, init and ephemeral containers, several owner references
// and Ready conditions, a deletion timestamp.
func richPod() corev1.Pod {
	del := metav1.NewTime(t0.Add(time.Minute))
	grace := int64(30)
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "checkout-7d9-abcde", GenerateName: "checkout-7d9-", Namespace: "shop", UID: "5b0c1f7e",
			ResourceVersion: "12345", Generation: 3,
			CreationTimestamp: metav1.NewTime(t0.Add(-36 * time.Hour)), DeletionTimestamp: &del, DeletionGracePeriodSeconds: &grace,
			Labels:      map[string]string{"app": "checkout", "pod-template-hash": "7d9", "tier": "backend", "empty": ""},
			Annotations: map[string]string{"kubectl.kubernetes.io/restartedAt": "2026-07-01T00:00:00Z"},
			OwnerReferences: []metav1.OwnerReference{
				{APIVersion: "v1", Kind: "Node", Name: "n", UID: "node-uid", Controller: ptrTo(false)},
				{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "checkout-7d9", UID: "rs-uid", Controller: ptrTo(true), BlockOwnerDeletion: ptrTo(true)},
				{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "second-controller", UID: "sts-uid", Controller: ptrTo(true)},
			},
			Finalizers: []string{"example.com/keep"},
			ManagedFields: []metav1.ManagedFieldsEntry{{
				Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
				FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(`{"f:metadata":{"f:labels":{".":{},"f:app":{}}}}`),
			}},
		},
		Spec: corev1.PodSpec{
			NodeName: "kwok-node-1",
			Volumes: []corev1.Volume{{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}},
			}}}},
			InitContainers: []corev1.Container{{Name: "init-db", Image: "busybox"}},
			Containers: []corev1.Container{
				{Name: "app", Image: "registry.example/checkout:1.2.3", Env: []corev1.EnvVar{{Name: "A", Value: "b"}},
					Resources:      corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m")}},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready"}}}},
				{Name: "sidecar", Image: "envoy"},
			},
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debugger"}}},
			Tolerations:         []corev1.Toleration{{Key: "kwok.x-k8s.io/node", Value: "fake", Effect: corev1.TaintEffectNoSchedule}},
			NodeSelector:        map[string]string{"type": "kwok"},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0)},
				{Type: corev1.PodReady, Status: corev1.ConditionFalse},
			},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, RestartCount: 2}},
			PodIP:             "10.244.0.7",
		},
	}
}

// decodeVariants are pods whose edge cases the decoder must reproduce.
func decodeVariants() map[string]corev1.Pod {
	bare := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "bare", UID: "u"}}
	epoch := kpod("shop", "epoch", func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(time.Unix(0, 0)) })
	zeroDeletion := kpod("shop", "zero-deletion", func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{} })
	notReady := kpod("shop", "not-ready", func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionUnknown}}
		p.Labels = nil
		p.OwnerReferences = p.OwnerReferences[:1] // no controller
	})
	return map[string]corev1.Pod{
		"rich": richPod(), "kpod": kpod("shop", "checkout-0"), "bare": bare,
		"epoch": epoch, "zero deletion timestamp": zeroDeletion, "not ready": notReady,
	}
}

func TestParsePodMatchesGeneratedDecoder(t *testing.T) {
	for name, pod := range decodeVariants() {
		t.Run(name, func(t *testing.T) {
			b, err := pod.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			var decoded corev1.Pod
			if err := decoded.Unmarshal(b); err != nil {
				t.Fatal(err)
			}
			want := FromPod(&decoded)
			got, err := parsePod(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("parsePod:\n got %+v\nwant %+v", got, want)
			}
		})
	}
	// The rich pod's answers, spelled out.
	p := richPod()
	b, _ := p.Marshal()
	got, _ := parsePod(b)
	if got.Owner == nil || got.Owner.UID != "rs-uid" || !got.Ready || !got.Terminating ||
		!reflect.DeepEqual(got.Containers, []string{"app", "sidecar"}) || got.Node != "kwok-node-1" || len(got.Labels) != 4 {
		t.Errorf("rich pod: %+v", got)
	}
}

// encodeList encodes a PodList as the API server does (protobuf envelope).
func encodeList(t testing.TB, list *corev1.PodList) []byte {
	t.Helper()
	info, ok := runtime.SerializerInfoForMediaType(scheme.Codecs.SupportedMediaTypes(), runtime.ContentTypeProtobuf)
	if !ok {
		t.Fatal("no protobuf serializer")
	}
	var buf bytes.Buffer
	if err := scheme.Codecs.EncoderForVersion(info.Serializer, corev1.SchemeGroupVersion).Encode(list, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecodeStream(t *testing.T) {
	list := &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "99", Continue: "next-token", RemainingItemCount: ptrTo(int64(7))}}
	for _, p := range decodeVariants() {
		list.Items = append(list.Items, p)
	}
	body := encodeList(t, list)
	var want []Pod
	for i := range list.Items {
		var round corev1.Pod
		b, _ := list.Items[i].Marshal()
		_ = round.Unmarshal(b)
		want = append(want, FromPod(&round))
	}
	dec := newPodDecoder()
	for _, tc := range []struct {
		name string
		body func() []byte
	}{{"whole", func() []byte { return body }}, {"again, reusing buffers", func() []byte { return body }}} {
		t.Run(tc.name, func(t *testing.T) {
			var got []Pod
			// One byte per Read: every boundary of the stream is crossed.
			cont, err := dec.decode(iotest.OneByteReader(bytes.NewReader(tc.body())), func(p Pod) { got = append(got, p) })
			if err != nil {
				t.Fatal(err)
			}
			if cont != "next-token" {
				t.Errorf("continue = %q", cont)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("pods:\n got %+v\nwant %+v", got, want)
			}
		})
	}

	// Every truncation is an error, never a panic or a silent short list.
	for n := 0; n < len(body); n += max(1, len(body)/97) {
		if n < len(protobufMagic) {
			continue // not recognisable as protobuf: the JSON path reports it
		}
		_, err := dec.decode(bytes.NewReader(body[:n]), func(Pod) {})
		if err == nil {
			t.Fatalf("truncated at %d of %d bytes: no error", n, len(body))
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	dec := newPodDecoder()
	status := &metav1.Status{Status: metav1.StatusFailure, Message: "nope"}
	info, _ := runtime.SerializerInfoForMediaType(scheme.Codecs.SupportedMediaTypes(), runtime.ContentTypeProtobuf)
	var buf bytes.Buffer
	if err := scheme.Codecs.EncoderForVersion(info.Serializer, metav1.SchemeGroupVersion).Encode(status, &buf); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		body []byte
		want string
	}{
		{"a Status, not a PodList", buf.Bytes(), "got a Status, want a PodList"},
		{"empty envelope", protobufMagic, "no PodList in the protobuf envelope"},
		{"not JSON either", []byte("<html>"), "decode response"},
		{"empty body", nil, "decode response"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dec.decode(bytes.NewReader(tc.body), func(Pod) {})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// FuzzParsePod checks that whatever the generated decoder accepts, parsePod
// accepts too, with the same result as FromPod; and that nothing panics.
func FuzzParsePod(f *testing.F) {
	for _, p := range decodeVariants() {
		b, err := p.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parsePod(b)
		var decoded corev1.Pod
		if decoded.Unmarshal(b) != nil {
			return // parsePod may be more lenient: it skips what it does not read
		}
		if err != nil {
			t.Fatalf("the generated decoder accepts it, parsePod says %v", err)
		}
		if want := FromPod(&decoded); !reflect.DeepEqual(got, want) {
			t.Fatalf("parsePod:\n got %+v\nwant %+v", got, want)
		}
	})
}

// BenchmarkDecode compares the stream decoder with the generated one on a
// page of 500 realistic pods.
func BenchmarkDecode(b *testing.B) {
	list := &corev1.PodList{}
	for range 500 {
		list.Items = append(list.Items, richPod())
	}
	body := encodeList(b, list)
	b.Run("stream", func(b *testing.B) {
		dec := newPodDecoder()
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			n := 0
			if _, err := dec.decode(bytes.NewReader(body), func(Pod) { n++ }); err != nil || n != 500 {
				b.Fatal(err, n)
			}
		}
	})
	b.Run("generated+FromPod", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var l corev1.PodList
			if err := runtime.DecodeInto(scheme.Codecs.UniversalDecoder(corev1.SchemeGroupVersion), body, &l); err != nil {
				b.Fatal(err)
			}
			out := make([]Pod, 0, len(l.Items))
			for i := range l.Items {
				out = append(out, FromPod(&l.Items[i]))
			}
			if len(out) != len(l.Items) { // uses out, so the conversion is not measured away
				b.Fatalf("%d pods from %d items", len(out), len(l.Items))
			}
		}
	})
}

// TestParsePodRandomPods fills pods at random (every field of the API may
// be set) and checks parsePod against the generated decoder and FromPod.
func TestParsePodRandomPods(t *testing.T) {
	var owners, ready, containers, terminating, labelled int
	for seed := range int64(300) {
		f := randfill.NewWithSeed(seed).NilChance(0.2).NumElements(0, 3).Funcs(
			func(q *resource.Quantity, c randfill.Continue) {
				*q = *resource.NewQuantity(c.Int63n(1<<20), resource.DecimalSI)
			},
			func(tm *metav1.Time, c randfill.Continue) {
				if c.Bool() {
					*tm = metav1.Unix(c.Int63n(4e9)-1e9, 0)
				}
			},
			func(tm *metav1.MicroTime, c randfill.Continue) {
				*tm = metav1.NewMicroTime(time.Unix(c.Int63n(4e9), 0))
			},
		)
		var pod corev1.Pod
		f.Fill(&pod)
		if seed%3 == 0 && len(pod.Status.Conditions) > 0 {
			c := &pod.Status.Conditions[len(pod.Status.Conditions)-1]
			c.Type = corev1.PodReady
			if seed%2 == 0 {
				c.Status = corev1.ConditionTrue
			}
		}
		b, err := pod.Marshal()
		if err != nil {
			t.Fatalf("seed %d: marshal: %v", seed, err)
		}
		var decoded corev1.Pod
		if err := decoded.Unmarshal(b); err != nil {
			t.Fatalf("seed %d: unmarshal: %v", seed, err)
		}
		got, err := parsePod(b)
		if err != nil {
			t.Fatalf("seed %d: parsePod: %v", seed, err)
		}
		if want := FromPod(&decoded); !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d:\n got %+v\nwant %+v", seed, got, want)
		}
		if got.Owner != nil {
			owners++
		}
		ready += map[bool]int{true: 1}[got.Ready]
		containers += min(1, len(got.Containers))
		terminating += map[bool]int{true: 1}[got.Terminating]
		labelled += min(1, len(got.Labels))
	}
	// The random pods must exercise every field, not only empty ones.
	for what, n := range map[string]int{"owner": owners, "ready": ready, "containers": containers, "terminating": terminating, "labels": labelled} {
		if n < 10 {
			t.Errorf("only %d of 300 random pods have %s", n, what)
		}
	}
}
