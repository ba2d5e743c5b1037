package target

import (
	"reflect"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	corev1 "k8s.io/api/core/v1"
)

// TestParsePodStricterCorners covers the inputs that protowire rejects and
// the generated (gogo) decoder accepts: parsePod must still read them as
// the generated decoder does (FuzzParsePod's promise), by handing them to
// it. Each case asserts both halves, so that it fails if protowire starts
// to accept the input (the fallback would then be untested) or gogo stops.
func TestParsePodStricterCorners(t *testing.T) {
	base := richPod()
	good, err := base.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// meta builds a Pod holding only metadata with one labels entry.
	meta := func(entry []byte) []byte {
		var m []byte
		m = protowire.AppendTag(m, fMetaName, protowire.BytesType)
		m = protowire.AppendString(m, "web-0")
		m = protowire.AppendTag(m, fMetaLabels, protowire.BytesType)
		m = protowire.AppendBytes(m, entry)
		return protowire.AppendBytes(protowire.AppendTag(nil, fPodMeta, protowire.BytesType), m)
	}
	for _, tc := range []struct {
		name string
		pod  []byte
	}{
		{"group end number differs from its start", func() []byte {
			b := append([]byte{}, good...)
			b = protowire.AppendTag(b, 100, protowire.StartGroupType)
			return protowire.AppendTag(b, 101, protowire.EndGroupType)
		}()},
		{"overlong varint with stray bits in its tenth byte", func() []byte {
			b := protowire.AppendTag(append([]byte{}, good...), 50, protowire.VarintType)
			return append(b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)
		}()},
		{"map key written as a varint", func() []byte {
			// gogo reads field 1 of the entry as a string whatever its
			// wire type: key "a", value "b".
			entry := []byte{0x08, 0x01, 'a'}
			entry = protowire.AppendTag(entry, 2, protowire.BytesType)
			return meta(protowire.AppendString(entry, "b"))
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var decoded corev1.Pod
			if err := decoded.Unmarshal(tc.pod); err != nil {
				t.Fatalf("the generated decoder rejects it (%v): the case tests nothing", err)
			}
			if _, err := parsePodFields(tc.pod); err == nil {
				t.Fatal("protowire accepts it: the fallback is not exercised")
			}
			got, err := parsePod(tc.pod)
			if err != nil {
				t.Fatal(err)
			}
			if want := FromPod(&decoded); !reflect.DeepEqual(got, want) {
				t.Errorf("parsePod:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}
