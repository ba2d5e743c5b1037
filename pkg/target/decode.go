package target

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
)

// This file reads a pod LIST response without materialising the pods.
//
// The generated decoder turns every pod into a full corev1.Pod (spec,
// volumes, managed fields, ...): about 12 KiB of allocations per pod on top
// of the response body, which client-go also buffers whole. chaosnight
// keeps a few fields of each pod, so the response is read as a stream
// instead: the protobuf envelope and the PodList are walked field by field,
// each pod's bytes are read into one reused buffer and only the fields of
// Pod are copied out. Memory no longer grows with the page size, and the
// CPU and GC cost drop several times. The field numbers are those of
// k8s.io/api and k8s.io/apimachinery's generated.proto files, which
// Kubernetes never renumbers (protobuf compatibility is part of its API
// guarantees); the tests check the result against the generated decoder
// followed by FromPod, field for field and under fuzzing.

// protobufMagic starts every Kubernetes protobuf body (runtime.Unknown follows).
var protobufMagic = []byte{0x6b, 0x38, 0x73, 0x00} // "k8s\x00"

// maxPodBytes bounds one encoded pod (etcd's own limit is 1.5 MiB).
const maxPodBytes = 64 << 20

// Field numbers (generated.proto).
const (
	fUnknownTypeMeta        = 1 // runtime.Unknown
	fUnknownRaw             = 2
	fUnknownContentEncoding = 3
	fTypeMetaKind           = 2 // runtime.TypeMeta
	fListMeta               = 1 // PodList
	fListItems              = 2
	fListMetaContinue       = 3 // metav1.ListMeta
	fPodMeta                = 1 // Pod
	fPodSpec                = 2
	fPodStatus              = 3
	fMetaName               = 1 // metav1.ObjectMeta
	fMetaNamespace          = 3
	fMetaUID                = 5
	fMetaCreated            = 8
	fMetaDeleted            = 9
	fMetaLabels             = 11
	fMetaOwners             = 13
	fOwnerKind              = 1 // metav1.OwnerReference
	fOwnerName              = 3
	fOwnerUID               = 4
	fOwnerController        = 6
	fTimeSeconds            = 1 // metav1.Timestamp
	fSpecContainers         = 2 // PodSpec
	fSpecNodeName           = 10
	fContainerName          = 1 // Container
	fStatusPhase            = 1 // PodStatus
	fStatusConditions       = 2
	fConditionType          = 1 // PodCondition
	fConditionStatus        = 2
)

// podDecoder reads LIST responses; one is used per List call so that its
// buffers are reused from page to page.
type podDecoder struct {
	br  *bufio.Reader
	buf []byte // one pod's bytes
	n   int64  // bytes consumed from br
}

func newPodDecoder() *podDecoder {
	return &podDecoder{br: bufio.NewReaderSize(nil, 64<<10)}
}

// decode reads one LIST response body and calls emit for each pod, in
// order. It returns the continue token. A body that is not protobuf (a
// server or proxy that answered JSON) is decoded the ordinary way.
func (d *podDecoder) decode(body io.Reader, emit func(Pod)) (cont string, err error) {
	d.br.Reset(body)
	d.n = 0
	magic, err := d.br.Peek(len(protobufMagic))
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read response: %w", err)
	}
	if !bytes.Equal(magic, protobufMagic) {
		return decodeOther(d.br, emit)
	}
	if _, err := d.br.Discard(len(protobufMagic)); err != nil {
		return "", fmt.Errorf("read response: %w", err)
	}
	sawList := false
	for {
		num, typ, err := d.tag()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", err
		}
		if num == fUnknownRaw && typ == protowire.BytesType {
			if sawList {
				// The generated decoder would keep the last one only.
				return "", errors.New("decode response: two PodLists in one envelope")
			}
			size, err := d.length()
			if err != nil {
				return "", err
			}
			if cont, err = d.podList(size, emit); err != nil {
				return "", err
			}
			sawList = true
			continue
		}
		if err := d.envelopeField(num, typ); err != nil {
			return "", err
		}
	}
	if !sawList {
		return "", errors.New("decode response: no PodList in the protobuf envelope")
	}
	return cont, nil
}

// envelopeField checks or skips one field of the runtime.Unknown
// envelope other than the PodList itself: the type must be a PodList and
// the content must not be encoded (compressed).
func (d *podDecoder) envelopeField(num protowire.Number, typ protowire.Type) error {
	switch {
	case num == fUnknownTypeMeta && typ == protowire.BytesType:
		b, err := d.message()
		if err != nil {
			return err
		}
		if kind := typeMetaKind(b); kind != "" && kind != "PodList" {
			return fmt.Errorf("decode response: got a %s, want a PodList", kind)
		}
	case num == fUnknownContentEncoding && typ == protowire.BytesType:
		b, err := d.message()
		if err != nil {
			return err
		}
		if len(b) > 0 {
			return fmt.Errorf("decode response: unsupported content encoding %q", b)
		}
	default:
		return d.skip(typ)
	}
	return nil
}

// decodeOther decodes a non-protobuf body (JSON) with the generated codecs.
func decodeOther(r io.Reader, emit func(Pod)) (string, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return "", fmt.Errorf("read response: %w", err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return "", errors.New("decode response: empty body")
	}
	var list corev1.PodList
	if err := runtime.DecodeInto(scheme.Codecs.UniversalDecoder(corev1.SchemeGroupVersion), raw, &list); err != nil {
		return "", fmt.Errorf("decode response: %w", err)
	}
	for i := range list.Items {
		emit(FromPod(&list.Items[i]))
	}
	return list.Continue, nil
}

// podList walks size bytes of an encoded PodList.
func (d *podDecoder) podList(size int64, emit func(Pod)) (cont string, err error) {
	end := d.n + size
	for d.n < end {
		num, typ, err := d.tag()
		if err != nil {
			return "", unexpectedEOF(err)
		}
		switch {
		case num == fListItems && typ == protowire.BytesType:
			b, err := d.message()
			if err != nil {
				return "", err
			}
			p, err := parsePod(b)
			if err != nil {
				return "", fmt.Errorf("decode response: the pod ending at byte %d: %w", d.n, err)
			}
			emit(p)
		case num == fListMeta && typ == protowire.BytesType:
			b, err := d.message()
			if err != nil {
				return "", err
			}
			if cont, err = listContinue(b); err != nil {
				return "", fmt.Errorf("decode list metadata: %w", err)
			}
		default:
			if err := d.skip(typ); err != nil {
				return "", err
			}
		}
	}
	if d.n != end {
		return "", errors.New("decode response: a PodList overruns its length")
	}
	return cont, nil
}

// varint reads one varint from the stream with protowire. io.EOF means
// the body ended cleanly before it; a varint cut short is
// io.ErrUnexpectedEOF.
func (d *podDecoder) varint() (uint64, error) {
	// Peek never crosses the 64 KiB buffer, so a varint costs no copy.
	b, err := d.br.Peek(binary.MaxVarintLen64)
	if len(b) == 0 {
		return 0, err // io.EOF at a clean end, or the read error
	}
	v, n := protowire.ConsumeVarint(b)
	if n < 0 {
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err // the read failed, the varint is not at fault
		}
		return 0, protowire.ParseError(n)
	}
	got, err := d.br.Discard(n)
	d.n += int64(got)
	return v, err
}

func (d *podDecoder) tag() (protowire.Number, protowire.Type, error) {
	v, err := d.varint()
	if err != nil {
		return 0, 0, err // io.EOF only at a clean end
	}
	num, typ := protowire.DecodeTag(v)
	if num < protowire.MinValidNumber {
		return 0, 0, fmt.Errorf("decode response: illegal tag %d", v>>3)
	}
	return num, typ, nil
}

func (d *podDecoder) length() (int64, error) {
	v, err := d.varint()
	if err != nil {
		return 0, unexpectedEOF(err)
	}
	if v > maxPodBytes<<10 {
		return 0, fmt.Errorf("decode response: field length %d is out of bounds", v)
	}
	return int64(v), nil
}

// message reads a length-delimited field into the reused buffer.
func (d *podDecoder) message() ([]byte, error) {
	size, err := d.length()
	if err != nil {
		return nil, err
	}
	if size > maxPodBytes {
		return nil, fmt.Errorf("decode response: a %d-byte object is larger than %d bytes", size, maxPodBytes)
	}
	if int64(cap(d.buf)) < size {
		d.buf = make([]byte, size, max(size, 2*int64(cap(d.buf))))
	}
	d.buf = d.buf[:size]
	n, err := io.ReadFull(d.br, d.buf)
	d.n += int64(n)
	if err != nil {
		return nil, unexpectedEOF(err)
	}
	return d.buf, nil
}

// skip discards one field value of wire type typ.
func (d *podDecoder) skip(typ protowire.Type) error {
	var n int64
	switch typ {
	case protowire.VarintType:
		_, err := d.varint()
		return unexpectedEOF(err)
	case protowire.Fixed32Type:
		n = int64(protowire.SizeFixed32())
	case protowire.Fixed64Type:
		n = int64(protowire.SizeFixed64())
	case protowire.BytesType:
		var err error
		if n, err = d.length(); err != nil {
			return err
		}
	default:
		// Groups are long deprecated; no Kubernetes type has one.
		return fmt.Errorf("decode response: unsupported wire type %d", typ)
	}
	got, err := d.br.Discard(int(n))
	d.n += int64(got)
	return unexpectedEOF(err)
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("decode response: %w", io.ErrUnexpectedEOF)
	}
	if err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}

var errWireGroup = errors.New("protobuf: end group outside a group")

// eachField calls fn for each varint and length-delimited field of the
// message b, read with protowire; it skips the other wire types (groups
// included, checked). fn receives the payload v of a length-delimited
// field or the value x of a varint.
//
// protowire is stricter than the generated (gogo) decoders of k8s.io/api
// in a few corners no apiserver writes: overlong varints with stray bits in
// their tenth byte, field numbers beyond int32 (gogo truncates them), group
// ends that do not match their start, map keys of another wire type or
// running past their entry. parsePod hands such a pod to the generated
// decoder instead of re-creating those quirks here.
func eachField(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var (
			v []byte
			x uint64
		)
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		case protowire.EndGroupType:
			return errWireGroup
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if typ != protowire.VarintType && typ != protowire.BytesType {
			continue
		}
		if err := fn(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

// wrongType is the error for a known field with another wire type, as the
// generated decoder reports it.
func wrongType(what string, typ protowire.Type) error {
	return fmt.Errorf("protobuf: wrong wire type %d for %s", typ, what)
}

// stringField checks the wire type of a string field and copies it.
func stringField(what string, typ protowire.Type, v []byte) (string, error) {
	if typ != protowire.BytesType {
		return "", wrongType(what, typ)
	}
	return string(v), nil
}

func typeMetaKind(b []byte) string {
	var kind string
	_ = eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num == fTypeMetaKind && typ == protowire.BytesType {
			kind = string(v)
		}
		return nil
	})
	return kind
}

func listContinue(b []byte) (string, error) {
	var cont string
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		var err error
		if num == fListMetaContinue {
			cont, err = stringField("ListMeta.continue", typ, v)
		}
		return err
	})
	return cont, err
}

// parsePod extracts a Pod from an encoded corev1.Pod. The result equals
// FromPod of the generated decoder's output. A pod that the protowire walk
// rejects but the generated decoder accepts (the corners listed at
// eachField, never written by an apiserver) is decoded by the generated
// decoder: it is the reference, so its reading wins, and the cost of a full
// corev1.Pod is paid only for such pods.
func parsePod(b []byte) (Pod, error) {
	p, err := parsePodFields(b)
	if err == nil {
		return p, nil
	}
	var pod corev1.Pod
	if pod.Unmarshal(b) != nil {
		return Pod{}, err
	}
	return FromPod(&pod), nil
}

// parsePodFields walks an encoded corev1.Pod with protowire and copies out
// the fields of Pod; fields merge as the generated decoder merges them (the
// last scalar wins, messages merge, repeated fields append).
func parsePodFields(b []byte) (Pod, error) {
	var st podFields
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		switch num {
		case fPodMeta:
			if typ != protowire.BytesType {
				return wrongType("Pod.metadata", typ)
			}
			return parseMeta(v, &st.p)
		case fPodSpec:
			if typ != protowire.BytesType {
				return wrongType("Pod.spec", typ)
			}
			return st.spec(v)
		case fPodStatus:
			if typ != protowire.BytesType {
				return wrongType("Pod.status", typ)
			}
			return st.status(v)
		}
		return nil
	})
	if err != nil {
		return Pod{}, err
	}
	if len(st.containers) > 0 {
		st.p.Containers = st.containers
	}
	return st.p, nil
}

// podFields is what parsePodFields has read so far: the pod, its
// container names and whether a Ready condition was seen (IsReady: the
// first one decides).
type podFields struct {
	p          Pod
	readySeen  bool
	containers []string
}

// spec reads one encoded PodSpec: the node name and the container names.
func (st *podFields) spec(b []byte) error {
	return eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		var err error
		switch num {
		case fSpecNodeName:
			st.p.Node, err = stringField("PodSpec.nodeName", typ, v)
		case fSpecContainers:
			if typ != protowire.BytesType {
				return wrongType("PodSpec.containers", typ)
			}
			var name string
			if name, err = containerName(v); err == nil {
				st.containers = append(st.containers, name)
			}
		}
		return err
	})
}

// status reads one encoded PodStatus: the phase and the Ready condition.
func (st *podFields) status(b []byte) error {
	return eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		var err error
		switch num {
		case fStatusPhase:
			st.p.Phase, err = stringField("PodStatus.phase", typ, v)
		case fStatusConditions:
			if typ != protowire.BytesType {
				return wrongType("PodStatus.conditions", typ)
			}
			var ctype, status string
			if ctype, status, err = condition(v); err == nil && ctype == string(corev1.PodReady) && !st.readySeen {
				st.readySeen = true
				st.p.Ready = status == string(corev1.ConditionTrue)
			}
		}
		return err
	})
}

func parseMeta(b []byte, p *Pod) error {
	return eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		var err error
		switch num {
		case fMetaName:
			p.Name, err = stringField("ObjectMeta.name", typ, v)
		case fMetaNamespace:
			p.Namespace, err = stringField("ObjectMeta.namespace", typ, v)
		case fMetaUID:
			p.UID, err = stringField("ObjectMeta.uid", typ, v)
		case fMetaCreated:
			if typ != protowire.BytesType {
				return wrongType("ObjectMeta.creationTimestamp", typ)
			}
			p.Created, err = parseTime(v)
		case fMetaDeleted:
			if typ != protowire.BytesType {
				return wrongType("ObjectMeta.deletionTimestamp", typ)
			}
			// Present, even empty, means a deletion timestamp is set.
			_, err = parseTime(v)
			p.Terminating = true
		case fMetaLabels:
			if typ != protowire.BytesType {
				return wrongType("ObjectMeta.labels", typ)
			}
			if p.Labels == nil {
				p.Labels = map[string]string{}
			}
			var k, val string
			if k, val, err = mapEntry(v); err == nil {
				p.Labels[k] = val
			}
		case fMetaOwners:
			if typ != protowire.BytesType {
				return wrongType("ObjectMeta.ownerReferences", typ)
			}
			var o Owner
			var controller bool
			// metav1.GetControllerOf: the first controller reference.
			if o, controller, err = owner(v); err == nil && controller && p.Owner == nil {
				p.Owner = &o
			}
		}
		return err
	})
}

// parseTime decodes a metav1.Time as its generated decoder does: an empty
// message is the zero time, otherwise whole seconds in local time.
func parseTime(b []byte) (time.Time, error) {
	if len(b) == 0 {
		return time.Time{}, nil
	}
	var secs int64
	err := eachField(b, func(num protowire.Number, typ protowire.Type, _ []byte, x uint64) error {
		switch num {
		case fTimeSeconds:
			if typ != protowire.VarintType {
				return wrongType("Timestamp.seconds", typ)
			}
			secs = int64(x)
		case 2: // nanos: checked, then ignored as metav1.Time does
			if typ != protowire.VarintType {
				return wrongType("Timestamp.nanos", typ)
			}
		}
		return nil
	})
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(secs, 0).Local(), nil
}

// mapEntry decodes a map<string,string> entry. A key or value of another
// wire type is an error, handing the pod to the generated decoder (see
// eachField), which reads it as a string whatever its type.
func mapEntry(b []byte) (key, val string, err error) {
	err = eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		var err error
		switch num {
		case 1:
			key, err = stringField("map key", typ, v)
		case 2:
			val, err = stringField("map value", typ, v)
		}
		return err
	})
	return key, val, err
}

func owner(b []byte) (o Owner, controller bool, err error) {
	err = eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		var err error
		switch num {
		case fOwnerKind:
			o.Kind, err = stringField("OwnerReference.kind", typ, v)
		case fOwnerName:
			o.Name, err = stringField("OwnerReference.name", typ, v)
		case fOwnerUID:
			o.UID, err = stringField("OwnerReference.uid", typ, v)
		case fOwnerController:
			if typ != protowire.VarintType {
				return wrongType("OwnerReference.controller", typ)
			}
			controller = x != 0
		}
		return err
	})
	return o, controller, err
}

func containerName(b []byte) (string, error) {
	var name string
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		var err error
		if num == fContainerName {
			name, err = stringField("Container.name", typ, v)
		}
		return err
	})
	return name, err
}

func condition(b []byte) (ctype, status string, err error) {
	err = eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		var err error
		switch num {
		case fConditionType:
			ctype, err = stringField("PodCondition.type", typ, v)
		case fConditionStatus:
			status, err = stringField("PodCondition.status", typ, v)
		}
		return err
	})
	return ctype, status, err
}
