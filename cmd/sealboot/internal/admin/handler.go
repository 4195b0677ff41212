// Package admin serves what sealboot knows about its devices to operators:
// the JSON API (/api/v1/devices, /api/v1/devices/{serial}), the status page
// (/, /devices/{serial}), and /healthz and /readyz, on the metrics listener
// and on the local control socket that `sealboot status` reads. Everything
// here is read-only: GET and HEAD. (The control socket adds one route,
// POST /api/v1/reload, wired by cmd/sealboot.)
package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/devices"
)

// Devices is what the handler reads (implemented by *devices.State).
type Devices interface {
	List(f devices.Filter) devices.List
	Device(serial string) (devices.Device, bool)
}

// Options are the handler's dependencies.
type Options struct {
	Devices Devices
	// NotReady names the components not serving yet (nil: all are).
	NotReady func() []string
	// Version is shown on the status page.
	Version string
	Log     *zap.Logger
	// Refresh is how often the status page reloads itself; default 5s.
	Refresh time.Duration
}

// PageRows is the most devices the status page lists at once; filters
// narrow it down.
const PageRows = 500

// New returns the handler for every admin route.
func New(opts Options) http.Handler {
	if opts.Refresh <= 0 {
		opts.Refresh = 5 * time.Second
	}
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	h := &handler{opts: opts}
	h.pages, h.style = parsePages()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/devices", h.list)
	mux.HandleFunc("GET /api/v1/devices/{serial}", h.device)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { text(w, http.StatusOK, "ok") })
	mux.HandleFunc("GET /readyz", h.ready)
	mux.HandleFunc("GET /{$}", h.page)
	mux.HandleFunc("GET /devices/{serial}", h.devicePage)
	return mux
}

type handler struct {
	opts  Options
	pages *template.Template
	style template.CSS
}

// ParseFilter reads a filter from a query: phase (a comma-separated list,
// or repeated), serial (a shell pattern), since (a duration back from now,
// or an RFC 3339 time), limit.
func ParseFilter(q map[string][]string, now time.Time) (devices.Filter, error) {
	var f devices.Filter
	for _, v := range q["phase"] {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				f.Phases = append(f.Phases, p)
			}
		}
	}
	if v := first(q["serial"]); v != "" {
		f.Serial = v
	}
	if v := first(q["since"]); v != "" {
		t, err := ParseSince(v, now)
		if err != nil {
			return f, err
		}
		f.Since = t
	}
	if v := first(q["limit"]); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return f, fmt.Errorf("limit %q: want a whole number", v)
		}
		f.Limit = n
	}
	return f, f.Check()
}

// ParseSince reads 10m (that long before now) or 2026-11-27T09:00:00Z.
func ParseSince(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("since %q: want a duration (10m, 2h) or a time (2026-11-27T09:00:00Z)", v)
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	f, err := ParseFilter(r.URL.Query(), time.Now())
	if err != nil {
		jsonError(w, http.StatusBadRequest, err)
		return
	}
	h.json(w, http.StatusOK, h.opts.Devices.List(f))
}

func (h *handler) device(w http.ResponseWriter, r *http.Request) {
	d, ok := h.opts.Devices.Device(r.PathValue("serial"))
	if !ok {
		jsonError(w, http.StatusNotFound, errors.New("no device with this serial"))
		return
	}
	h.json(w, http.StatusOK, d)
}

func (h *handler) ready(w http.ResponseWriter, _ *http.Request) {
	var waiting []string
	if h.opts.NotReady != nil {
		waiting = h.opts.NotReady()
	}
	if len(waiting) > 0 {
		text(w, http.StatusServiceUnavailable, "not ready: "+strings.Join(waiting, ", "))
		return
	}
	text(w, http.StatusOK, "ready")
}

func (h *handler) json(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		h.opts.Log.Debug("admin: response not written", zap.Error(err))
	}
}

func jsonError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

func text(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}
