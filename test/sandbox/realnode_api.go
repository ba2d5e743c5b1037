package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// PodAPIServer makes the API server reachable from the real node's pods
// and returns the address they use: set it as KUBERNETES_SERVICE_HOST and
// KUBERNETES_SERVICE_PORT in a container's env (explicit env wins over the
// kubelet's), and client-go's in-cluster configuration connects there.
//
// Why: the API server listens on 127.0.0.1 only, and the sandbox has no
// kube-proxy, so the kubernetes Service (10.96.0.1) leads nowhere. A TCP
// forwarder on the node bridge's address (ForwardToPods) relays to it;
// TLS passes through unchanged, and the serving certificate names that
// address. Without a real node it returns a *RealNodeUnavailableError.
func (s *Sandbox) PodAPIServer(ctx context.Context) (host string, port int, err error) {
	addr, err := s.ForwardToPods(ctx, strings.TrimPrefix(s.APIServerURL, "https://"))
	if err != nil {
		return "", 0, err
	}
	h, p, _ := net.SplitHostPort(addr)
	port, _ = strconv.Atoi(p)
	return h, port, nil
}

// PodPrometheusURL is the sandbox Prometheus as the real node's pods reach
// it (through ForwardToPods): what an in-cluster runner's
// prometheus.url is set to.
func (s *Sandbox) PodPrometheusURL(ctx context.Context) (string, error) {
	addr, err := s.ForwardToPods(ctx, strings.TrimPrefix(s.PrometheusURL, "http://"))
	if err != nil {
		return "", err
	}
	return "http://" + addr, nil
}

// ForwardToPods relays TCP connections from the real node's pods to
// upstream, a host:port of this host (the sandbox's servers listen on
// 127.0.0.1), and returns the address pods connect to: a port on the node
// bridge's address, which is the pods' gateway and exists only on this
// host, so nothing beyond the bridge can connect. One forwarder per
// upstream, until the sandbox stops. Without a real node it returns a
// *RealNodeUnavailableError.
func (s *Sandbox) ForwardToPods(ctx context.Context, upstream string) (string, error) {
	if s.node == nil {
		return "", &RealNodeUnavailableError{Reason: "ForwardToPods needs a sandbox started with Config.RealNode"}
	}
	s.podAPIMu.Lock()
	defer s.podAPIMu.Unlock()
	if addr, ok := s.forwards[upstream]; ok {
		return addr, nil
	}
	var (
		l   net.Listener
		err error
	)
	// The bridge gets its address when the first pod joins it; wait a
	// little for it rather than fail.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var lc net.ListenConfig
		l, err = lc.Listen(ctx, "tcp", net.JoinHostPort(realNodeGateway, "0"))
		if err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return "", fmt.Errorf("sandbox: listen on the real node's bridge %s (no pod has joined it yet?): %w", realNodeGateway, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	go func() { <-s.runCtx.Done(); _ = l.Close() }()
	go relay(s.runCtx, l, upstream)
	if s.forwards == nil {
		s.forwards = map[string]string{}
	}
	addr := l.Addr().String()
	s.forwards[upstream] = addr
	s.logf("%s reachable from the real node's pods at %s", upstream, addr)
	return addr, nil
}

// relay accepts connections on l and copies each to and from upstream
// until l is closed.
func relay(ctx context.Context, l net.Listener, upstream string) {
	var d net.Dialer
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		go func() {
			defer func() { _ = c.Close() }()
			u, err := d.DialContext(ctx, "tcp", upstream)
			if err != nil {
				return
			}
			defer func() { _ = u.Close() }()
			var wg sync.WaitGroup
			wg.Go(func() { _, _ = io.Copy(u, c); _ = u.(*net.TCPConn).CloseWrite() })
			_, _ = io.Copy(c, u)
			_ = c.(*net.TCPConn).CloseWrite()
			wg.Wait()
		}()
	}
}
