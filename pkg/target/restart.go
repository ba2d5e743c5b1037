package target

import (
	"context"
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ListPodsRestarting is ListPods that starts the LIST once more from the
// beginning when a continue token expired (410 Gone: the paging outlived
// etcd compaction), as Selector does. reset runs before the second attempt
// so that the caller drops what the first one gave it and no pod is seen
// twice. A second expiry is returned (apierrors.IsResourceExpired): the
// cluster changes faster than it can be read, and guessing would be worse
// than saying so. requests counts the LISTs of both attempts.
func ListPodsRestarting(ctx context.Context, client kubernetes.Interface, ns string, opts metav1.ListOptions, reset func(), fn func(Pod)) (requests int, err error) {
	err = restartOnExpired(reset, func() error {
		n, err := ListPods(ctx, client, ns, opts, fn)
		requests += n
		return err
	})
	return requests, err
}

// Paged sends a paged LIST of any resource: list sends one page with opts
// (Continue set from the second page on) and returns the page's continue
// token. It follows the tokens to the end and, like ListPodsRestarting,
// restarts once from the first page after reset when a token expired. It
// is for lists that need fields the Pod decoder does not keep (a helper
// pod's annotations); opts.Limit 0 means DefaultSelectPageSize.
func Paged(ctx context.Context, opts metav1.ListOptions, reset func(), list func(ctx context.Context, opts metav1.ListOptions) (cont string, err error)) (requests int, err error) {
	if list == nil {
		return 0, errors.New("paged list: nil list function")
	}
	if opts.Limit <= 0 {
		opts.Limit = DefaultSelectPageSize
	}
	err = restartOnExpired(reset, func() error {
		o := opts
		o.Continue = ""
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			requests++
			cont, err := list(ctx, o)
			if err != nil || cont == "" {
				return err
			}
			o.Continue = cont
		}
	})
	return requests, err
}

// restartOnExpired runs attempt, and once more after reset when it failed
// with an expired continue token. Only that error restarts: any other is
// not made better by reading again from the start.
func restartOnExpired(reset func(), attempt func() error) error {
	err := attempt()
	if err == nil || !apierrors.IsResourceExpired(err) {
		return err
	}
	if reset != nil {
		reset()
	}
	return attempt()
}
