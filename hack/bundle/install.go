package bundle

import "strings"

// installText is the bundle's INSTALL.md: what an operator types on the
// far side of the air gap. docs/airgapped.md says the same with the why.
// Code blocks are fenced with ~~~ (Markdown's other fence): a Go raw
// string cannot hold backquotes.
func installText(b *Bundle, version, arch string) string {
	r := strings.NewReplacer(
		"@VERSION@", version,
		"@ARCH@", arch,
		"@CHART@", b.Chart,
		"@IMAGE@", b.ImageArchive,
		"@CLI@", b.CLI,
		"@NAME@", b.ImageName,
		"@DIGEST@", b.ImageDigest,
		"@SUMS@", SumsFile,
	)
	return r.Replace(installTemplate)
}

const installTemplate = `# chaosnight @VERSION@: offline bundle

Everything needed to run chaosnight in a cluster without internet access
(see docs/airgapped.md in the repository for the details).

| file | what it is |
| --- | --- |
| @CHART@ | the Helm chart; its appVersion is @VERSION@, the image tag |
| @IMAGE@ | the image @NAME@ (linux/@ARCH@) as an OCI image layout tar; manifest digest @DIGEST@ |
| @CLI@ | the chaosnight command line (pause, resume, status, validate, schedule, ...) for linux/@ARCH@ |
| @SUMS@ | SHA-256 of every file above |

## 1. Verify

~~~sh
sha256sum -c @SUMS@
~~~

## 2. Put the image into your registry

Set REGISTRY to your registry (and path), for example
REGISTRY=registry.example.internal:5000/tools. With any one of:

~~~sh
# skopeo
skopeo copy oci-archive:@IMAGE@ docker://$REGISTRY/chaosnight:@VERSION@

# crane (reads an OCI layout directory: unpack the tar first)
mkdir chaosnight-image && tar -xf @IMAGE@ -C chaosnight-image
crane push chaosnight-image $REGISTRY/chaosnight:@VERSION@

# podman
podman load -i @IMAGE@              # prints "Loaded image: NAME"
podman tag NAME $REGISTRY/chaosnight:@VERSION@
podman push $REGISTRY/chaosnight:@VERSION@
~~~

skopeo and crane copy the blobs as they are: the digest in the registry is
@DIGEST@, and you may pin it with --set image.digest=@DIGEST@.

Without a registry (single node, or every node by hand), import it into
containerd's Kubernetes namespace on each node that may run the runner or a
stress helper pod; it keeps the name @NAME@:

~~~sh
ctr -n k8s.io images import @IMAGE@
~~~

and install without the image overrides below (image.pullPolicy is
IfNotPresent, and the chart's default tag is its appVersion, @VERSION@).

## 3. Install

~~~sh
kubectl create namespace chaosnight
kubectl label namespace shop chaosnight.dev/enabled=true   # each target namespace opts in

helm install chaosnight ./@CHART@ -n chaosnight \
  --set image.repository=$REGISTRY/chaosnight \
  --set image.tag=@VERSION@ \
  --set 'rbac.namespaces={shop}'
~~~

Add --set 'imagePullSecrets={NAME}' if your registry needs credentials (a
docker-registry Secret in the chaosnight namespace). Stress experiments run
the same image (stress.image defaults to it): nothing else to import. The
release starts in dry run (dryRun: true); the chart's README and NOTES say
how to check it and switch it on.

## 4. Upgrade

Import the new bundle's image as in step 2. Helm never upgrades CRDs:
apply the new chart's first, then upgrade (from the new bundle's directory):

~~~sh
tar -xzf ./@CHART@ chaosnight/crds
kubectl apply --server-side -f chaosnight/crds/
helm upgrade chaosnight ./@CHART@ -n chaosnight --reuse-values \
  --set image.tag=@VERSION@
~~~

The CLI: copy @CLI@ to a machine with a kubeconfig for the cluster,
rename it chaosnight, and run for example
chaosnight pause --kill-switch-namespace chaosnight
`
