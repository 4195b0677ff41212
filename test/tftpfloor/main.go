// Command tftpfloor serves one file's bytes from memory with pin/tftp,
// the TFTP library sealboot is built on, and does nothing else: every
// read request gets the same bytes, with no name check, no log, no
// metrics. bench/tftp.sh runs it next to sealboot and dnsmasq over the
// same veth to show what a pin/tftp server costs before any of sealboot's
// work: the floor under sealboot's figure.
//
// It is a benchmark tool only: it answers any file name alike and refuses
// writes.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/pin/tftp/v3"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:69", "host:port")
	file := flag.String("file", "", "file whose bytes every transfer carries")
	flag.Parse()
	data, err := os.ReadFile(*file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tftpfloor:", err)
		os.Exit(1)
	}
	read := func(_ string, rf io.ReaderFrom) error {
		if ot, ok := rf.(tftp.OutgoingTransfer); ok {
			ot.SetSize(int64(len(data)))
		}
		_, err := rf.ReadFrom(bytes.NewReader(data))
		return err
	}
	write := func(string, io.WriterTo) error { return errors.New("read only") }
	err = tftp.NewServer(read, write).ListenAndServe(*listen)
	fmt.Fprintln(os.Stderr, "tftpfloor:", err)
	os.Exit(1)
}
