package daemon

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// ServeHTTP serves srv on ln until ctx is done, then shuts it down,
// giving requests in flight up to grace to finish (a shutdown that runs
// out of grace is not an error). It returns Serve's error if serving
// stops by itself.
func ServeHTTP(ctx context.Context, srv *http.Server, ln net.Listener, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
