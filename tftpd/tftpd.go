// Package tftpd is sealboot's TFTP server (RFC 1350, read-only, with the
// blksize and tsize options of RFC 2348 and 2349). A device asks for a file
// name; the fetch core (package fetch) resolves it to a serial (never to a
// path), checks the DHCP binding of the asking address, and seals the
// serial's config to its certificate (RFC 8886 section 4.1); this package
// carries the bytes, bounds the transfers and ends each attempt.
//
// Every request produces exactly one tftp.fetch log event; see README.md.
package tftpd

import (
	"time"

	"github.com/sealboot/sealboot/tftpd/fetch"
)

// Config configures the server. Zero values take the defaults shown. What
// is served, to whom, and how it is sealed is the fetch core's (package
// fetch), shared with the other transports.
type Config struct {
	Listen          []string      // host:port; default [":69"]
	MaxTransfers    int           // concurrent transfers; default 256
	MaxPerClient    int           // concurrent transfers per client address; default 4
	QueueWait       time.Duration // a request's wait for a slot when MaxTransfers are busy; default 1s, negative: none
	Timeout         time.Duration // retransmission timeout; default 5s
	Retries         int           // retransmissions; default 5
	ShutdownTimeout time.Duration // how long Run waits for transfers at stop; default 5s
	// A transfer is cut off (outcome timeout) once it has run MaxTransferTime,
	// or once MinRateAfter has passed and it has averaged less than MinRate
	// bytes a second: a slow reader cannot hold a slot. Zero: off.
	MinRate         int64
	MinRateAfter    time.Duration
	MaxTransferTime time.Duration
	// ReceiveBuffer is the listening sockets' receive buffer in bytes, for
	// bursts of requests; 0: the kernel's default.
	ReceiveBuffer int
}

func (c *Config) pace() pace {
	return pace{minRate: c.MinRate, grace: c.MinRateAfter, maxTime: c.MaxTransferTime}
}

// Fetcher is the transport-independent fetch, as this transport uses it.
// *fetch.Transport implements it.
type Fetcher interface {
	// Resolve sets the serial the attempt's name carries (for a refusal
	// before Prepare).
	Resolve(a *fetch.Attempt)
	// Prepare checks the attempt and returns the bytes to send, or
	// fetch.ErrNotFound / fetch.ErrServer with the attempt's outcome set.
	Prepare(a *fetch.Attempt) ([]byte, error)
	// Finish writes the attempt's one event.
	Finish(a *fetch.Attempt)
}

func (c Config) withDefaults() Config {
	if len(c.Listen) == 0 {
		c.Listen = []string{":69"}
	}
	if c.MaxTransfers <= 0 {
		c.MaxTransfers = 256
	}
	if c.MaxPerClient <= 0 {
		c.MaxPerClient = 4
	}
	if c.QueueWait == 0 {
		c.QueueWait = time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Retries <= 0 {
		c.Retries = 5
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 5 * time.Second
	}
	return c
}
