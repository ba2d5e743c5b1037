package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// InstallCRDs creates every CustomResourceDefinition in dir (the chart's
// crds/, as Helm would) unless it exists, and waits until each is
// Established. The API server refuses a non-structural schema in
// apiextensions.k8s.io/v1, so acceptance proves it. It returns a dynamic
// client for the custom resources.
func (s *Sandbox) InstallCRDs(t testing.TB, dir string) dynamic.Interface {
	t.Helper()
	dc, err := dynamic.NewForConfig(s.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in %s: %v", dir, err)
	}
	ctx := context.Background()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(data, &obj.Object); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		_, err = dc.Resource(crdGVR).Create(ctx, obj, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("%s refused: %v", f, err)
		}
		WaitFor(t, 30*time.Second, obj.GetName()+" Established", func() error { return established(ctx, dc, obj.GetName()) })
	}
	return dc
}

func established(ctx context.Context, dc dynamic.Interface, name string) error {
	c, err := dc.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	conds, _, _ := unstructured.NestedSlice(c.Object, "status", "conditions")
	var seen []string
	for _, x := range conds {
		m, _ := x.(map[string]any)
		seen = append(seen, fmt.Sprintf("%v=%v (%v)", m["type"], m["status"], m["message"]))
		if m["type"] == "NonStructuralSchema" && m["status"] == "True" {
			return fmt.Errorf("non-structural: %v", m["message"])
		}
		if m["type"] == "Established" && m["status"] == "True" {
			return nil
		}
	}
	return fmt.Errorf("conditions %v", seen)
}
