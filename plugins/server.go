package plugins

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/coredhcp/coredhcp/handler"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sys/unix"

	"github.com/sealboot/sealboot/plugins/bootstrap"
	"github.com/sealboot/sealboot/plugins/leases"
)

// Config is the DHCP server's configuration (the dhcp section of the
// configuration file, with addresses parsed).
type Config struct {
	StateDir     string     // lease journals live here
	Bootfile     string     // template with {serial}
	TFTPServer   netip.Addr // handed out over DHCPv4; zero: V4.ServerID
	Inventory    string     // file; empty: none
	ServeUnknown bool
	// ReceiveBuffer is the DHCP sockets' receive buffer in bytes, for
	// bursts of requests; 0: the kernel's default.
	ReceiveBuffer int
	V4            V4Config
	V6            V6Config
	// HTTP is the built-in HTTP server's scheme and port, for the URLs
	// of profiles whose transport is http.
	HTTP bootstrap.HTTP
	// SZTP is the SZTP bootstrap server, for options 143 and 136.
	SZTP bootstrap.SZTP
	// Profiles say how the devices they match boot (first match wins).
	Profiles []bootstrap.Profile
}

// V4Config is DHCPv4; no interfaces means off.
type V4Config struct {
	Interfaces []string
	ServerID   netip.Addr // zero: the first IPv4 address of the first interface
	Pool       leases.Pool
	Netmask    net.IPMask
	Router     netip.Addr
	DNS        []netip.Addr
	LeaseTime  time.Duration
	Subnets    []bootstrap.Subnet // relayed
}

// V6Config is DHCPv6; no interfaces means off.
type V6Config struct {
	Interfaces     []string
	Pool           leases.Pool
	DNS            []netip.Addr
	TFTPServer     netip.Addr // zero: the first global address of the first interface
	BootfileParams []string
	LeaseTime      time.Duration
	RapidCommit    bool                // see bootstrap.V6
	Subnets        []bootstrap.Subnet6 // relayed
}

// Deps are what the DHCP server works with besides its configuration.
type Deps struct {
	// Known says which serials sealboot has a certificate or a config
	// for: those devices' offers come first when a pool runs short.
	Known bootstrap.Known
	// PacketLog takes every line a packet can cause, CoreDHCP's and the
	// lease journals' included; the caller rate-limits it. nil: the
	// server's logger.
	PacketLog *zap.Logger
}

// Server is the DHCP component of `sealboot serve`.
type Server struct {
	cfg    Config
	deps   Deps
	log    *zap.Logger
	plog   *zap.Logger
	reg    prometheus.Registerer
	v4, v6 *leases.Store
	inv    *bootstrap.Inventory
	plugin *bootstrap.Plugin
	ready  chan struct{}
}

// New opens the lease stores and the inventory.
func New(cfg Config, deps Deps, log *zap.Logger, reg prometheus.Registerer) (*Server, error) {
	s := &Server{cfg: cfg, deps: deps, log: log, plog: deps.PacketLog, reg: reg, ready: make(chan struct{})}
	if s.plog == nil {
		s.plog = log
	}
	var err error
	if len(cfg.V4.Interfaces) > 0 {
		if s.v4, err = leases.Open(leases.Options{Path: filepath.Join(cfg.StateDir, "leases4.journal"), Family: "v4"}, s.plog.Named("leases"), reg); err != nil {
			return nil, fmt.Errorf("dhcpv4 leases: %w", err)
		}
	}
	if len(cfg.V6.Interfaces) > 0 {
		if s.v6, err = leases.Open(leases.Options{Path: filepath.Join(cfg.StateDir, "leases6.journal"), Family: "v6"}, s.plog.Named("leases"), reg); err != nil {
			return nil, fmt.Errorf("dhcpv6 leases: %w", err)
		}
	}
	if cfg.Inventory != "" {
		if s.inv, err = bootstrap.LoadInventory(cfg.Inventory, log.Named("inventory")); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Bindings is what the TFTP server asks which device holds an address.
func (s *Server) Bindings() *Bindings { return &Bindings{v4: s.v4, v6: s.v6} }

// InInventory reports whether the inventory lists a device with serial.
func (s *Server) InInventory(serial string) bool { return s.inv != nil && s.inv.HasSerial(serial) }

// Ready is closed when every listener is up.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Run starts CoreDHCP on the configured interfaces and serves until ctx
// is done.
func (s *Server) Run(ctx context.Context) error {
	defer s.close()
	pcfg, err := s.pluginConfig(s.cfg)
	if err != nil {
		return err
	}
	deps := bootstrap.Deps{V4: s.v4, V6: s.v6, Known: s.deps.Known, PacketLog: s.plog}
	if s.inv != nil {
		deps.Inventory = s.inv
		go func() { _ = s.inv.Run(ctx) }()
	}
	s.plugin, err = bootstrap.New(pcfg, deps, s.log, s.reg)
	if err != nil {
		return err
	}
	removeBridge := bridgeLogs(s.plog.Named("coredhcp"), s.plugin.Malformed)
	defer removeBridge()
	var h4 []handler.Handler4
	var h6 []handler.Handler6
	if pcfg.V4 != nil {
		h4 = []handler.Handler4{s.plugin.Handle4}
	}
	if pcfg.V6 != nil {
		h6 = []handler.Handler6{s.plugin.Handle6}
	}
	v6addrs := listen6(s.cfg.V6.Interfaces)
	srv, err := startCoreDHCP(h4, listen(s.cfg.V4.Interfaces, net.IPv4zero, 67), h6, v6addrs)
	if err != nil {
		return fmt.Errorf("listen on dhcp.v4.interfaces %v, dhcp.v6.interfaces %v: %w", s.cfg.V4.Interfaces, s.cfg.V6.Interfaces, err)
	}
	var relays *relayListeners
	if len(h6) > 0 {
		relays = newRelayListeners(s.cfg.V6.Interfaces, s.plugin.Handle6, s.log)
		relays.sync()
		relays.added = func() { s.raiseReceiveBuffers(true) } // the first ones get theirs below
		relays.announce = true
		// Stopped, and done with the lease stores, before Run returns
		// and they are closed.
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { relays.run(rctx, 2*time.Second); close(done) }()
		defer func() { cancel(); <-done }()
	}
	s.raiseReceiveBuffers(false)
	s.captureDeclines(ctx, pcfg)
	for _, i := range s.cfg.V4.Interfaces {
		s.log.Info("dhcpv4 listening", zap.String("interface", i), zap.Stringer("server_id", pcfg.V4.ServerID), zap.Stringer("tftp_server", pcfg.V4.TFTPServer))
	}
	if relays != nil {
		for _, i := range s.cfg.V6.Interfaces {
			s.log.Info("dhcpv6 listening", zap.String("interface", i), zap.Strings("relay_addresses", relays.listening(i)), zap.Stringer("tftp_server", pcfg.V6.TFTPServer))
		}
	}
	close(s.ready)
	errc := make(chan error, 1)
	go func() { errc <- srv.Wait() }()
	select {
	case <-ctx.Done():
		srv.Close()
		<-errc
		return nil
	case err := <-errc:
		return err
	}
}

// Check says whether Reload would accept cfg, without applying it.
func (s *Server) Check(cfg Config) error {
	_, err := s.pluginConfig(cfg)
	return err
}

// Reload applies a new configuration's options, bootfile, serve_unknown
// and inventory; interfaces and pools' journals change on restart.
func (s *Server) Reload(cfg Config) error {
	if s.plugin == nil {
		return errors.New("dhcp is not running")
	}
	pcfg, err := s.pluginConfig(cfg)
	if err != nil {
		return err
	}
	if err := s.plugin.Update(pcfg); err != nil {
		return err
	}
	if s.inv != nil {
		return s.inv.Reload()
	}
	return nil
}

// raiseReceiveBuffers sets the configured receive buffer on our DHCP
// sockets, and says in the log what the kernel granted, one line per
// family. Failing to is a warning, not a reason not to serve. later: a
// relay listener was added; the granted size is logged at Debug then.
func (s *Server) raiseReceiveBuffers(later bool) {
	if s.cfg.ReceiveBuffer <= 0 {
		return
	}
	for _, fam := range []struct {
		name string
		port int
		on   bool
	}{{"dhcpv4", 67, len(s.cfg.V4.Interfaces) > 0 && !later}, {"dhcpv6", 547, len(s.cfg.V6.Interfaces) > 0}} {
		if !fam.on {
			continue
		}
		bufs, err := raiseReceiveBuffers(fam.port, s.cfg.ReceiveBuffer)
		if err != nil {
			s.log.Warn("cannot set the DHCP receive buffer; bursts of requests beyond the kernel's default are dropped until retransmitted",
				zap.String("family", fam.name), zap.Error(err))
			continue
		}
		least, capped := 0, false
		for i, b := range bufs {
			if i == 0 || b.bytes < least {
				least = b.bytes
			}
			capped = capped || (!b.forced && b.bytes < s.cfg.ReceiveBuffer)
		}
		if capped {
			s.log.Warn("dhcp receive buffer smaller than configured: without CAP_NET_ADMIN it is capped by net.core.rmem_max",
				zap.String("family", fam.name), zap.Int("sockets", len(bufs)), zap.Int("bytes", least), zap.Int("configured", s.cfg.ReceiveBuffer))
			continue
		}
		lvl := zapcore.InfoLevel
		if later {
			lvl = zapcore.DebugLevel
		}
		if ce := s.log.Check(lvl, "dhcp receive buffer"); ce != nil {
			ce.Write(zap.String("family", fam.name), zap.Int("sockets", len(bufs)), zap.Int("bytes", least))
		}
	}
}

func (s *Server) close() {
	for _, st := range []*leases.Store{s.v4, s.v6} {
		if st != nil {
			if err := st.Close(); err != nil {
				s.log.Error("closing lease journal", zap.Error(err))
			}
		}
	}
}

// listen is one address per interface, bound to it: sealboot never
// answers on an interface that was not named.
func listen(ifaces []string, ip net.IP, port int) []net.UDPAddr {
	out := make([]net.UDPAddr, len(ifaces))
	for i, name := range ifaces {
		out[i] = net.UDPAddr{IP: ip, Port: port, Zone: name}
	}
	return out
}

// captureDeclines reads the DECLINEs CoreDHCP drops (see decline.go) and
// hands them to the plugin; DHCPv6 ones get their Reply from here too.
func (s *Server) captureDeclines(ctx context.Context, pcfg bootstrap.Config) {
	const warn = "cannot capture %s (CoreDHCP drops it): a client that finds its address in use will be offered it again"
	if pcfg.V4 != nil {
		c := capture{name: "DHCPDECLINE", proto: unix.ETH_P_IP, filter: declineFilter, handle: func(pkt []byte, _ *net.Interface) {
			if req, ok := parseDecline(pkt); ok {
				s.plugin.Decline4(req)
			}
		}}
		if err := watchDeclines(ctx, s.cfg.V4.Interfaces, c, s.log); err != nil {
			s.log.Warn(fmt.Sprintf(warn, c.name), zap.Error(err))
		}
	}
	if pcfg.V6 != nil {
		c := capture{name: "DHCPv6 Decline", proto: unix.ETH_P_IPV6, filter: declineFilter6, handle: func(pkt []byte, ifi *net.Interface) {
			from, req, ok := parseDecline6(pkt)
			if !ok {
				return
			}
			if reply := s.plugin.Decline6(req); reply != nil {
				if err := answerDecline6(ifi, from, reply); err != nil {
					s.plog.Warn("dhcpv6: cannot answer a Decline", zap.Stringer("client", from), zap.Error(err))
				}
			}
		}}
		if err := watchDeclines(ctx, s.cfg.V6.Interfaces, c, s.log); err != nil {
			s.log.Warn(fmt.Sprintf(warn, c.name), zap.Error(err))
		}
	}
}

// listen6 lists the DHCPv6 listeners for each interface's multicast
// groups, where clients and relays on the link send (ff02::1:2
// All_DHCP_Relay_Agents_and_Servers, ff05::1:3 All_DHCP_Servers); the
// interface's own addresses, where relays elsewhere send, are listened on
// by relayListeners as they become usable. Each socket is bound to its own
// address, so no packet reaches two of them.
func listen6(ifaces []string) []net.UDPAddr {
	var out []net.UDPAddr
	for _, name := range ifaces {
		out = append(out, net.UDPAddr{IP: net.ParseIP("ff02::1:2"), Port: 547, Zone: name},
			net.UDPAddr{IP: net.ParseIP("ff05::1:3"), Port: 547, Zone: name})
	}
	return out
}

// Bindings answers the TFTP server's LookupIP from the v4 or v6 leases.
type Bindings struct{ v4, v6 *leases.Store }

// LookupIP implements tftpd.Bindings.
func (b *Bindings) LookupIP(ip netip.Addr) (string, net.HardwareAddr, bool) {
	st := b.v6
	if ip.Unmap().Is4() {
		st = b.v4
	}
	if st == nil {
		return "", nil, false
	}
	return st.LookupIP(ip)
}
