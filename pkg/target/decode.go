package target

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

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
		switch {
		case num == fUnknownRaw && typ == wireBytes:
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
		case num == fUnknownTypeMeta && typ == wireBytes:
			b, err := d.message()
			if err != nil {
				return "", err
			}
			if kind := typeMetaKind(b); kind != "" && kind != "PodList" {
				return "", fmt.Errorf("decode response: got a %s, want a PodList", kind)
			}
		case num == fUnknownContentEncoding && typ == wireBytes:
			b, err := d.message()
			if err != nil {
				return "", err
			}
			if len(b) > 0 {
				return "", fmt.Errorf("decode response: unsupported content encoding %q", b)
			}
		default:
			if err := d.skip(typ); err != nil {
				return "", err
			}
		}
	}
	if !sawList {
		return "", errors.New("decode response: no PodList in the protobuf envelope")
	}
	return cont, nil
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
		case num == fListItems && typ == wireBytes:
			b, err := d.message()
			if err != nil {
				return "", err
			}
			p, err := parsePod(b)
			if err != nil {
				return "", fmt.Errorf("decode response: the pod ending at byte %d: %w", d.n, err)
			}
			emit(p)
		case num == fListMeta && typ == wireBytes:
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

// ReadByte counts the bytes read, for binary.ReadUvarint.
func (d *podDecoder) ReadByte() (byte, error) {
	b, err := d.br.ReadByte()
	if err == nil {
		d.n++
	}
	return b, err
}

func (d *podDecoder) tag() (num int32, typ int, err error) {
	v, err := binary.ReadUvarint(d)
	if err != nil {
		return 0, 0, err // io.EOF only at a clean end
	}
	num, typ = int32(v>>3), int(v&7)
	if num <= 0 {
		return 0, 0, fmt.Errorf("decode response: illegal tag %d", num)
	}
	return num, typ, nil
}

func (d *podDecoder) length() (int64, error) {
	v, err := binary.ReadUvarint(d)
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
func (d *podDecoder) skip(typ int) error {
	var n int64
	switch typ {
	case wireVarint:
		_, err := binary.ReadUvarint(d)
		return unexpectedEOF(err)
	case wireFixed32:
		n = 4
	case wireFixed64:
		n = 8
	case wireBytes:
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

// Wire types.
const (
	wireVarint     = 0
	wireFixed64    = 1
	wireBytes      = 2
	wireStartGroup = 3
	wireEndGroup   = 4
	wireFixed32    = 5
)

var (
	errOverflow  = errors.New("protobuf: integer overflow")
	errLength    = errors.New("protobuf: invalid length")
	errEndGroup  = errors.New("protobuf: unexpected end of group")
	errWireGroup = errors.New("protobuf: end group outside a group")
)

// The helpers below read protobuf exactly as the generated (gogo) decoders
// of k8s.io/api do, quirks included, so that whatever they accept is read
// the same way here (FuzzParsePod checks it).

// uvarint reads a varint; like the generated code, it ignores bits beyond
// the 64th instead of rejecting them.
func uvarint(b []byte) (x uint64, n int, err error) {
	for shift := uint(0); ; shift += 7 {
		if shift >= 64 {
			return 0, 0, errOverflow
		}
		if n >= len(b) {
			return 0, 0, io.ErrUnexpectedEOF
		}
		c := b[n]
		n++
		x |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return x, n, nil
		}
	}
}

// lengthDelimited reads a length and returns the payload that follows it
// within b, and the bytes consumed.
func lengthDelimited(b []byte) ([]byte, int, error) {
	v, k, err := uvarint(b)
	if err != nil {
		return nil, 0, err
	}
	size := int(v)
	if size < 0 {
		return nil, 0, errLength
	}
	end := k + size
	if end < 0 {
		return nil, 0, errLength
	}
	if end > len(b) {
		return nil, 0, io.ErrUnexpectedEOF
	}
	return b[k:end:end], end, nil
}

// skipField returns the size of the field (tag included) at the start of
// b, as the generated skipGenerated computes it.
func skipField(b []byte) (int, error) {
	i, depth := 0, 0
	for i < len(b) {
		wire, n, err := uvarint(b[i:])
		if err != nil {
			return 0, err
		}
		i += n
		switch wire & 7 {
		case wireVarint:
			_, n, err := uvarint(b[i:])
			if err != nil {
				return 0, err
			}
			i += n
		case wireFixed64:
			i += 8
		case wireBytes:
			v, n, err := uvarint(b[i:])
			if err != nil {
				return 0, err
			}
			size := int(v)
			if size < 0 {
				return 0, errLength
			}
			i += n + size
		case wireStartGroup:
			depth++
		case wireEndGroup:
			if depth == 0 {
				return 0, errEndGroup
			}
			depth--
		case wireFixed32:
			i += 4
		default:
			return 0, fmt.Errorf("protobuf: illegal wire type %d", wire&7)
		}
		if i < 0 {
			return 0, errLength
		}
		if depth == 0 {
			return i, nil
		}
	}
	return 0, io.ErrUnexpectedEOF
}

// eachField calls fn for each varint and length-delimited field of the
// message b; it skips the other wire types. fn receives the payload v of a
// length-delimited field (rest is b from v's start to b's end, for map
// entries) or the value x of a varint.
func eachField(b []byte, fn func(num int32, typ int, v, rest []byte, x uint64) error) error {
	for i := 0; i < len(b); {
		wire, n, err := uvarint(b[i:])
		if err != nil {
			return err
		}
		num, typ := int32(wire>>3), int(wire&7)
		if typ == wireEndGroup {
			return errWireGroup
		}
		if num <= 0 {
			return fmt.Errorf("protobuf: illegal tag %d", num)
		}
		switch typ {
		case wireVarint:
			x, k, err := uvarint(b[i+n:])
			if err != nil {
				return err
			}
			if err := fn(num, typ, nil, nil, x); err != nil {
				return err
			}
			i += n + k
		case wireBytes:
			v, k, err := lengthDelimited(b[i+n:])
			if err != nil {
				return err
			}
			if err := fn(num, typ, v, b[i+n+k-len(v):], 0); err != nil {
				return err
			}
			i += n + k
		default:
			k, err := skipField(b[i:])
			if err != nil {
				return err
			}
			if i+k > len(b) {
				return io.ErrUnexpectedEOF
			}
			i += k
		}
	}
	return nil
}

// wrongType is the error for a known field with another wire type, as the
// generated decoder reports it.
func wrongType(what string, typ int) error {
	return fmt.Errorf("protobuf: wrong wire type %d for %s", typ, what)
}

// stringField checks the wire type of a string field and copies it.
func stringField(what string, typ int, v []byte) (string, error) {
	if typ != wireBytes {
		return "", wrongType(what, typ)
	}
	return string(v), nil
}

func typeMetaKind(b []byte) string {
	var kind string
	_ = eachField(b, func(num int32, typ int, v, _ []byte, _ uint64) error {
		if num == fTypeMetaKind && typ == wireBytes {
			kind = string(v)
		}
		return nil
	})
	return kind
}

func listContinue(b []byte) (string, error) {
	var cont string
	err := eachField(b, func(num int32, typ int, v, _ []byte, _ uint64) error {
		var err error
		if num == fListMetaContinue {
			cont, err = stringField("ListMeta.continue", typ, v)
		}
		return err
	})
	return cont, err
}

// parsePod extracts a Pod from an encoded corev1.Pod. The result equals
// FromPod of the generated decoder's output; fields merge as the generated
// decoder merges them (the last scalar wins, messages merge, repeated
// fields append).
func parsePod(b []byte) (Pod, error) {
	var (
		p          Pod
		readySeen  bool
		containers []string
	)
	err := eachField(b, func(num int32, typ int, v, _ []byte, _ uint64) error {
		switch num {
		case fPodMeta:
			if typ != wireBytes {
				return wrongType("Pod.metadata", typ)
			}
			return parseMeta(v, &p)
		case fPodSpec:
			if typ != wireBytes {
				return wrongType("Pod.spec", typ)
			}
			return eachField(v, func(num int32, typ int, v, _ []byte, _ uint64) error {
				var err error
				switch num {
				case fSpecNodeName:
					p.Node, err = stringField("PodSpec.nodeName", typ, v)
				case fSpecContainers:
					if typ != wireBytes {
						return wrongType("PodSpec.containers", typ)
					}
					var name string
					if name, err = containerName(v); err == nil {
						containers = append(containers, name)
					}
				}
				return err
			})
		case fPodStatus:
			if typ != wireBytes {
				return wrongType("Pod.status", typ)
			}
			return eachField(v, func(num int32, typ int, v, _ []byte, _ uint64) error {
				var err error
				switch num {
				case fStatusPhase:
					p.Phase, err = stringField("PodStatus.phase", typ, v)
				case fStatusConditions:
					if typ != wireBytes {
						return wrongType("PodStatus.conditions", typ)
					}
					var ctype, status string
					if ctype, status, err = condition(v); err == nil && ctype == string(corev1.PodReady) && !readySeen {
						// IsReady: the first Ready condition decides.
						readySeen = true
						p.Ready = status == string(corev1.ConditionTrue)
					}
				}
				return err
			})
		}
		return nil
	})
	if err != nil {
		return Pod{}, err
	}
	if len(containers) > 0 {
		p.Containers = containers
	}
	return p, nil
}

func parseMeta(b []byte, p *Pod) error {
	return eachField(b, func(num int32, typ int, v, rest []byte, _ uint64) error {
		var err error
		switch num {
		case fMetaName:
			p.Name, err = stringField("ObjectMeta.name", typ, v)
		case fMetaNamespace:
			p.Namespace, err = stringField("ObjectMeta.namespace", typ, v)
		case fMetaUID:
			p.UID, err = stringField("ObjectMeta.uid", typ, v)
		case fMetaCreated:
			if typ != wireBytes {
				return wrongType("ObjectMeta.creationTimestamp", typ)
			}
			p.Created, err = parseTime(v)
		case fMetaDeleted:
			if typ != wireBytes {
				return wrongType("ObjectMeta.deletionTimestamp", typ)
			}
			// Present, even empty, means a deletion timestamp is set.
			_, err = parseTime(v)
			p.Terminating = true
		case fMetaLabels:
			if typ != wireBytes {
				return wrongType("ObjectMeta.labels", typ)
			}
			if p.Labels == nil {
				p.Labels = map[string]string{}
			}
			var k, val string
			if k, val, err = mapEntry(rest, len(v)); err == nil {
				p.Labels[k] = val
			}
		case fMetaOwners:
			if typ != wireBytes {
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
	err := eachField(b, func(num int32, typ int, _, _ []byte, x uint64) error {
		switch num {
		case fTimeSeconds:
			if typ != wireVarint {
				return wrongType("Timestamp.seconds", typ)
			}
			secs = int64(x)
		case 2: // nanos: checked, then ignored as metav1.Time does
			if typ != wireVarint {
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

// mapEntry decodes the map<string,string> entry that is the first size
// bytes of rest. Like the generated decoder, it reads keys and values as
// length-delimited whatever their wire type, and bounds them by the
// enclosing message (rest), not by the entry.
func mapEntry(rest []byte, size int) (key, val string, err error) {
	for i := 0; i < size; {
		wire, n, err := uvarint(rest[i:])
		if err != nil {
			return "", "", err
		}
		switch int32(wire >> 3) {
		case 1, 2:
			v, k, err := lengthDelimited(rest[i+n:])
			if err != nil {
				return "", "", err
			}
			if int32(wire>>3) == 1 {
				key = string(v)
			} else {
				val = string(v)
			}
			i += n + k
		default:
			k, err := skipField(rest[i:])
			if err != nil {
				return "", "", err
			}
			if i+k > size {
				return "", "", io.ErrUnexpectedEOF
			}
			i += k
		}
	}
	return key, val, nil
}

func owner(b []byte) (o Owner, controller bool, err error) {
	err = eachField(b, func(num int32, typ int, v, _ []byte, x uint64) error {
		var err error
		switch num {
		case fOwnerKind:
			o.Kind, err = stringField("OwnerReference.kind", typ, v)
		case fOwnerName:
			o.Name, err = stringField("OwnerReference.name", typ, v)
		case fOwnerUID:
			o.UID, err = stringField("OwnerReference.uid", typ, v)
		case fOwnerController:
			if typ != wireVarint {
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
	err := eachField(b, func(num int32, typ int, v, _ []byte, _ uint64) error {
		var err error
		if num == fContainerName {
			name, err = stringField("Container.name", typ, v)
		}
		return err
	})
	return name, err
}

func condition(b []byte) (ctype, status string, err error) {
	err = eachField(b, func(num int32, typ int, v, _ []byte, _ uint64) error {
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
