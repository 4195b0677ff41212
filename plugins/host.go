// Package plugins embeds CoreDHCP in sealboot and runs it with sealboot's
// own plugin (package bootstrap) on the interfaces the operator named.
//
// CoreDHCP's server.Start only takes plugins by name from a process-wide
// registry, whose built-in plugins keep their state in package globals.
// sealboot uses none of them: its handlers close over their state, and are
// registered under a unique name just long enough for server.Start to pick
// them up, under a lock (registryMu) that guards CoreDHCP's registry.
package plugins

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"sync"

	"github.com/coredhcp/coredhcp/config"
	"github.com/coredhcp/coredhcp/handler"
	coreplugins "github.com/coredhcp/coredhcp/plugins"
	"github.com/coredhcp/coredhcp/server"
)

// registryMu serialises use of CoreDHCP's global plugin registry; it is
// the one piece of package state here, and exists because that registry is
// CoreDHCP's.
var registryMu sync.Mutex

// startCoreDHCP starts CoreDHCP listeners with the given handlers (either
// may be nil when that family is off).
func startCoreDHCP(v4 []handler.Handler4, v4Addrs []net.UDPAddr, v6 []handler.Handler6, v6Addrs []net.UDPAddr) (*server.Servers, error) {
	registryMu.Lock()
	defer registryMu.Unlock()
	cfg := &config.Config{}
	var names []string
	defer func() {
		for _, n := range names {
			delete(coreplugins.RegisteredPlugins, n)
		}
	}()
	if len(v4) > 0 {
		sc := &config.ServerConfig{Addresses: v4Addrs}
		for _, h := range v4 {
			name := uniqueName()
			names = append(names, name)
			if err := coreplugins.RegisterPlugin(&coreplugins.Plugin{Name: name, Setup4: func(...string) (handler.Handler4, error) { return h, nil }}); err != nil {
				return nil, err
			}
			sc.Plugins = append(sc.Plugins, config.PluginConfig{Name: name})
		}
		cfg.Server4 = sc
	}
	if len(v6) > 0 {
		sc := &config.ServerConfig{Addresses: v6Addrs}
		for _, h := range v6 {
			name := uniqueName()
			names = append(names, name)
			if err := coreplugins.RegisterPlugin(&coreplugins.Plugin{Name: name, Setup6: func(...string) (handler.Handler6, error) { return h, nil }}); err != nil {
				return nil, err
			}
			sc.Plugins = append(sc.Plugins, config.PluginConfig{Name: name})
		}
		cfg.Server6 = sc
	}
	return server.Start(cfg)
}

func uniqueName() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "sealboot-" + hex.EncodeToString(b)
}
