package httpd

import (
	"io"
	"net/http"
	"time"
)

// writer is the ResponseWriter a request is answered through. It records
// the status and counts the body bytes for the event, and sets the
// connection's write deadline so that the response goes out at the
// minimum rate: each window of bytes within grace + window/min_rate (a
// reader that stalls, or a link that died, is cut after that long), and
// the whole within grace + size/min_rate, from the start of the request.
//
// It keeps net/http's sendfile path: ReadFrom hands each window, as an
// *io.LimitedReader over the same file, to the ReadFrom of net/http's
// writer, which passes it to the connection's, which is the socket's.
type writer struct {
	http.ResponseWriter
	rc     *http.ResponseController
	cfg    *Config
	status int
	n      int64     // body bytes sent
	err    error     // the first write error
	end    time.Time // deadline of the whole response; zero until its size is known
}

func newWriter(w http.ResponseWriter, cfg *Config) *writer {
	return &writer{ResponseWriter: w, rc: http.NewResponseController(w), cfg: cfg}
}

// Unwrap lets http.ResponseController reach net/http's writer.
func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// limit sets the deadline of the whole response, of size bytes, counted
// from start.
func (w *writer) limit(start time.Time, size int64) {
	w.end = start.Add(w.cfg.TransferGrace + rateTime(size, w.cfg.MinRate))
}

// deadline sets the write deadline for the next n bytes.
func (w *writer) deadline(n int64) {
	d := time.Now().Add(w.cfg.TransferGrace + rateTime(n, w.cfg.MinRate))
	if !w.end.IsZero() && d.After(w.end) {
		d = w.end
	}
	_ = w.rc.SetWriteDeadline(d)
}

func rateTime(n, rate int64) time.Duration {
	return time.Duration(float64(n) / float64(rate) * float64(time.Second))
}

func (w *writer) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *writer) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.deadline(int64(len(p)))
	n, err := w.ResponseWriter.Write(p)
	w.count(int64(n), err)
	return n, err
}

// ReadFrom sends src window by window, each with its deadline.
func (w *writer) ReadFrom(src io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if !ok {
		return io.Copy(struct{ io.Writer }{w}, src)
	}
	lr, limited := src.(*io.LimitedReader)
	var total int64
	for {
		size := w.cfg.Window
		var part *io.LimitedReader
		if limited {
			if lr.N <= 0 {
				return total, nil
			}
			size = min(size, lr.N)
			part = &io.LimitedReader{R: lr.R, N: size}
		} else {
			part = &io.LimitedReader{R: src, N: size}
		}
		w.deadline(size)
		n, err := rf.ReadFrom(part)
		if limited {
			lr.N -= n
		}
		total += n
		w.count(n, err)
		if err != nil || n < size { // an error, or the end of src
			return total, err
		}
	}
}

func (w *writer) count(n int64, err error) {
	w.n += n
	if err != nil && w.err == nil {
		w.err = err
	}
}

// refuse answers with a generic error text; the cause is in the event,
// whose bytes count only what was served.
func (w *writer) refuse(code int, text string) {
	w.status = code
	w.deadline(int64(len(text)) + 512)
	http.Error(w.ResponseWriter, text, code)
}
