package admin

import (
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/devices"
)

//go:embed templates
var templateFiles embed.FS

// parsePages parses the page templates and the style sheet, which every
// page inlines: no request leaves for another file, let alone another
// host. They are embedded: an error here is a bug.
func parsePages() (*template.Template, template.CSS) {
	t := template.Must(template.New("").Funcs(template.FuncMap{"ago": ago, "clock": clock}).ParseFS(templateFiles, "templates/*.html"))
	css, err := templateFiles.ReadFile("templates/style.css")
	if err != nil {
		panic(err)
	}
	return t, template.CSS(css)
}

// pageData is what the templates show.
type pageData struct {
	Title          string
	Style          template.CSS
	Version        string
	RefreshSeconds int
	Now            time.Time
	Summary        devices.Summary
	Phases         []phaseLink
	Phase, Serial  string
	Error          string
	Devices        []devices.Device
	Matched        int
	Device         *devices.Device
}

type phaseLink struct {
	Name   string
	Count  int
	Active bool
}

// securityHeaders keep the page to itself: nothing it loads may come from
// elsewhere, and it runs no script.
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

func (h *handler) base(title string) pageData {
	return pageData{Title: title, Style: h.style, Version: h.opts.Version, RefreshSeconds: int(h.opts.Refresh.Seconds()), Now: time.Now()}
}

func (h *handler) page(w http.ResponseWriter, r *http.Request) {
	d := h.base("sealboot: devices")
	q := r.URL.Query()
	f, err := ParseFilter(map[string][]string{"phase": q["phase"], "serial": q["serial"]}, d.Now)
	if err != nil {
		d.Error, f = err.Error(), devices.Filter{}
	}
	f.Limit = PageRows
	l := h.opts.Devices.List(f)
	d.Summary, d.Devices, d.Matched = l.Summary, l.Devices, l.Matched
	d.Phase, d.Serial = strings.Join(f.Phases, ","), f.Serial
	for _, p := range devices.Phases {
		d.Phases = append(d.Phases, phaseLink{Name: p, Count: l.Summary.Phases[p], Active: slices.Contains(f.Phases, p)})
	}
	h.render(w, http.StatusOK, "devices.html", d)
}

func (h *handler) devicePage(w http.ResponseWriter, r *http.Request) {
	serial := r.PathValue("serial")
	d := h.base("sealboot: " + serial)
	d.Summary = h.opts.Devices.List(devices.Filter{Limit: 1}).Summary
	code := http.StatusOK
	if dev, ok := h.opts.Devices.Device(serial); ok {
		d.Device = &dev
	} else {
		code = http.StatusNotFound
	}
	h.render(w, code, "device.html", d)
}

func (h *handler) render(w http.ResponseWriter, code int, name string, d pageData) {
	var b strings.Builder
	if err := h.pages.ExecuteTemplate(&b, name, d); err != nil {
		h.opts.Log.Error("admin: status page not rendered", zap.String("page", name), zap.Error(err))
		http.Error(w, "status page not rendered", http.StatusInternalServerError)
		return
	}
	securityHeaders(w)
	w.WriteHeader(code)
	_, _ = w.Write([]byte(b.String()))
}

// ago is a time as "15:04:05 (3m ago)", or "—" for none.
func ago(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return fmt.Sprintf("%s (%s ago)", clock(t), time.Since(t).Round(time.Second))
}

// clock is a time of day, with the date when it is not today.
func clock(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	t = t.Local()
	if y, m, d := t.Date(); time.Now().Local().Format("2006-01-02") != fmt.Sprintf("%04d-%02d-%02d", y, m, d) {
		return t.Format("2006-01-02 15:04:05")
	}
	return t.Format("15:04:05")
}
