// Command httpfloor serves one file's bytes from memory over HTTP with
// nothing else around them: no routing, no checks, no log, no metrics.
// bench/http.sh runs it next to sealboot and nginx, in the same run, to
// show what a Go server costs before any of sealboot's work: -mode nethttp
// is net/http with a handler that writes the bytes (the floor of any
// net/http server), -mode raw a loop that accepts, reads the request head,
// writes a fixed response head and the bytes with one writev and closes
// (the floor of Go's runtime and network poller, without net/http).
//
// It is a benchmark tool only: raw answers every request alike, whatever
// it asks.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8083", "host:port")
	file := flag.String("file", "", "file whose bytes every response carries")
	mode := flag.String("mode", "nethttp", "nethttp or raw")
	flag.Parse()
	data, err := os.ReadFile(*file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpfloor:", err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpfloor:", err)
		os.Exit(1)
	}
	switch *mode {
	case "nethttp":
		size := strconv.Itoa(len(data))
		err = (&http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/pkcs7-mime")
			w.Header().Set("Content-Length", size)
			_, _ = w.Write(data)
		})}).Serve(ln)
	case "raw":
		err = raw(ln, data)
	default:
		err = fmt.Errorf("unknown mode %q", *mode)
	}
	fmt.Fprintln(os.Stderr, "httpfloor:", err)
	os.Exit(1)
}

func raw(ln net.Listener, data []byte) error {
	head := []byte("HTTP/1.0 200 OK\r\nContent-Type: application/pkcs7-mime\r\nContent-Length: " +
		strconv.Itoa(len(data)) + "\r\nConnection: close\r\n\r\n")
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			var got [4096]byte
			n := 0
			for !bytes.Contains(got[:n], []byte("\r\n\r\n")) {
				if n == len(got) {
					return
				}
				m, err := c.Read(got[n:])
				if err != nil {
					return
				}
				n += m
			}
			b := net.Buffers{head, data}
			_, _ = b.WriteTo(c)
		}()
	}
}
