package device

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/cms"
)

// FleetConfig is many devices booting at once on one interface.
type FleetConfig struct {
	Interface string
	Serials   []string // see FleetSerials
	KeysDir   string   // <serial>.key for each device, and <serial>.crt (its IDevID) for SZTP
	Template  Config   // vendor, retry, limits… applied to every device
}

// FleetSerials names count devices prefix0001, prefix0002, ….
func FleetSerials(prefix string, count int) []string {
	width := max(4, len(fmt.Sprint(count)))
	out := make([]string, count)
	for i := range out {
		out[i] = fmt.Sprintf("%s%0*d", prefix, width, i+1)
	}
	return out
}

// FleetMAC derives a device's locally administered MAC from its serial.
func FleetMAC(serial string) net.HardwareAddr {
	h := sha256.Sum256([]byte(serial))
	return net.HardwareAddr{0x02, 0x5b, h[0], h[1], h[2], h[3]}
}

// Percentiles of one step's duration over the fleet, in milliseconds.
type Percentiles struct {
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
}

// Summary is the outcome of a fleet boot.
type Summary struct {
	Devices       int            `json:"devices"`
	Provisioned   int            `json:"provisioned"`
	Failed        map[string]int `json:"failed"`
	FirstConfigMs float64        `json:"first_config_ms"`
	LastConfigMs  float64        `json:"last_config_ms"`
	DHCP          Percentiles    `json:"dhcp"`
	TFTP          Percentiles    `json:"tftp"`
	Decrypt       Percentiles    `json:"decrypt"`
	SZTP          Percentiles    `json:"sztp"` // SZTP devices: bootstrap server to installed
	Total         Percentiles    `json:"total"`
}

// Fleet boots every device at once and summarises.
func Fleet(ctx context.Context, fc FleetConfig) (Summary, []Result, error) {
	shared, err := openConns(fc.Interface)
	if err != nil {
		return Summary{}, nil, err
	}
	defer shared.Close()
	fleetAddrs := &releases{}
	defer fleetAddrs.run()
	cfgs := make([]Config, len(fc.Serials))
	for i, serial := range fc.Serials {
		keyPEM, err := os.ReadFile(filepath.Join(fc.KeysDir, serial+".key"))
		if err != nil {
			return Summary{}, nil, err
		}
		key, err := cms.ParsePrivateKey(keyPEM)
		if err != nil {
			return Summary{}, nil, fmt.Errorf("%s.key: %w", serial, err)
		}
		c := fc.Template
		c.Serial, c.Key, c.Interface, c.MAC, c.conns, c.V6, c.broadcast = serial, key, fc.Interface, FleetMAC(serial), shared, false, true
		if fc.Template.SZTP != nil {
			if c.SZTP, err = fleetSZTP(fc, serial); err != nil {
				return Summary{}, nil, err
			}
		}
		// Removing a subnet's primary IPv4 address takes its secondaries
		// with it: devices keep their addresses until the whole fleet is
		// done, and the fleet removes them at the end.
		c.KeepAddress, c.onLease = true, fleetAddrs.add
		cfgs[i] = c
	}
	start := time.Now()
	results := make([]Result, len(cfgs))
	done := make([]time.Duration, len(cfgs))
	var wg sync.WaitGroup
	for i := range cfgs {
		wg.Go(func() {
			r, err := Boot(ctx, cfgs[i])
			if err != nil {
				r.Outcome, r.Error = OutcomeDHCPFailed, err.Error()
			}
			results[i], done[i] = r, time.Since(start)
		})
	}
	wg.Wait()
	return summarise(results, done), results, nil
}

// fleetSZTP is the template's SZTP settings with the device's IDevID from
// <serial>.crt in front of the template's chain.
func fleetSZTP(fc FleetConfig, serial string) (*SZTP, error) {
	data, err := os.ReadFile(filepath.Join(fc.KeysDir, serial+".crt"))
	if err != nil {
		return nil, err
	}
	cert, err := keystore.ParseCertificate(data)
	if err != nil {
		return nil, fmt.Errorf("%s.crt: %w", serial, err)
	}
	s := *fc.Template.SZTP
	s.Chain = append([]*x509.Certificate{cert}, fc.Template.SZTP.Chain...)
	return &s, nil
}

// releases collects the fleet's address removals, run at the end.
type releases struct {
	mu  sync.Mutex
	fns []func()
}

func (r *releases) add(fn func()) {
	r.mu.Lock()
	r.fns = append(r.fns, fn)
	r.mu.Unlock()
}

func (r *releases) run() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.fns) - 1; i >= 0; i-- { // secondaries before the primary
		r.fns[i]()
	}
	r.fns = nil
}

func summarise(results []Result, done []time.Duration) Summary {
	s := Summary{Devices: len(results), Failed: map[string]int{}}
	var dhcp, tftp, dec, sz, total, finished []float64
	for i, r := range results {
		if !r.Installed() {
			s.Failed[r.Outcome]++
			continue
		}
		s.Provisioned++
		finished = append(finished, ms(done[i]))
		dhcp, tftp, dec, total = append(dhcp, r.DHCPMs), append(tftp, r.TFTPMs), append(dec, r.DecryptMs), append(total, r.TotalMs)
		if r.SZTPMs > 0 {
			sz = append(sz, r.SZTPMs)
		}
	}
	if len(finished) > 0 {
		sort.Float64s(finished)
		s.FirstConfigMs, s.LastConfigMs = finished[0], finished[len(finished)-1]
	}
	s.DHCP, s.TFTP, s.Decrypt, s.SZTP, s.Total = pct(dhcp), pct(tftp), pct(dec), pct(sz), pct(total)
	return s
}

func pct(v []float64) Percentiles {
	if len(v) == 0 {
		return Percentiles{}
	}
	sort.Float64s(v)
	at := func(q float64) float64 { return v[min(len(v)-1, int(q*float64(len(v))))] }
	return Percentiles{P50: at(0.50), P99: at(0.99)}
}
