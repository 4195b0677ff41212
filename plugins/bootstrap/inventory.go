package bootstrap

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/sealboot/sealboot/keystore/watchdir"
	"github.com/sealboot/sealboot/plugins/bootstrap/identity"
)

// Inventory is the operator's list of devices whose serial is not in their
// DHCP requests (classic Cisco IOS, Cumulus, SONiC), and overrides for
// those whose is. The file has one device per line, a MAC address and a
// serial separated by spaces, tabs or a comma; '#' starts a comment:
//
//	# mac                serial
//	00:50:56:85:3a:b2    FTX1234A0BC    # pe1.pop1, classic IOS
//	0050.5685.3ab3,      FTX1234A0BD
//
// It is read again when the file changes; a version with an error is
// refused (the error names the line) and the previous one stays.
type Inventory struct {
	path  string
	log   *zap.Logger
	byMAC atomic.Pointer[map[string]string]
}

// LoadInventory reads the inventory file.
func LoadInventory(path string, log *zap.Logger) (*Inventory, error) {
	inv := &Inventory{path: path, log: log}
	if err := inv.Reload(); err != nil {
		return nil, err
	}
	return inv, nil
}

// SerialForMAC implements identity.Inventory.
func (i *Inventory) SerialForMAC(mac net.HardwareAddr) (string, bool) {
	s, ok := (*i.byMAC.Load())[mac.String()]
	return s, ok
}

// HasSerial reports whether a device with this serial is listed.
func (i *Inventory) HasSerial(serial string) bool {
	for _, s := range *i.byMAC.Load() {
		if s == serial {
			return true
		}
	}
	return false
}

// Len is the number of devices listed.
func (i *Inventory) Len() int { return len(*i.byMAC.Load()) }

// Reload reads the file again; on error the previous content stays.
func (i *Inventory) Reload() error {
	data, err := os.ReadFile(i.path)
	if err != nil {
		return fmt.Errorf("dhcp.inventory: %w", err)
	}
	m, err := parseInventory(data)
	if err != nil {
		return fmt.Errorf("dhcp.inventory %s: %w", i.path, err)
	}
	i.byMAC.Store(&m)
	return nil
}

func parseInventory(data []byte) (map[string]string, error) {
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' })
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: want \"<mac> <serial>\"", n)
		}
		mac, err := net.ParseMAC(f[0])
		if err != nil {
			return nil, fmt.Errorf("line %d: invalid MAC address %q", n, f[0])
		}
		if !identity.ValidSerial(f[1]) {
			return nil, fmt.Errorf("line %d: invalid serial %q", n, f[1])
		}
		if prev, dup := m[mac.String()]; dup && prev != f[1] {
			return nil, fmt.Errorf("line %d: %s is listed twice (%s and %s)", n, mac, prev, f[1])
		}
		m[mac.String()] = f[1]
	}
	return m, sc.Err()
}

// Run reloads the inventory when its file changes, until ctx is done. The
// directory is watched: editors replace files rather than write them.
func (i *Inventory) Run(ctx context.Context) error {
	events, err := watchdir.Watch(ctx, filepath.Dir(i.path), "inventory directory", i.log)
	if err != nil {
		return err
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			if ev.Rescan || ev.Name == filepath.Base(i.path) {
				timer.Reset(200 * time.Millisecond)
			}
		case <-timer.C:
			if err := i.Reload(); err != nil {
				i.log.Error("inventory not reloaded; the previous version stays", zap.Error(err))
				continue
			}
			i.log.Info("inventory reloaded", zap.String("file", i.path), zap.Int("devices", i.Len()))
		}
	}
}
