package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/config"
)

// capNetBindService is CAP_NET_BIND_SERVICE's bit in the capability sets.
const capNetBindService = 10

// checkPorts reports each listener on a port this process may not bind:
// one below net.ipv4.ip_unprivileged_port_start (1024) without
// CAP_NET_BIND_SERVICE, which serve would fail to bind at start. The
// unit grants that capability (AmbientCapabilities=); run by hand as
// another user, check says so. defaultTFTP: tftp.listen is the built-in
// default, which serve moves to a high port when it may not bind 69.
func checkPorts(cfg *config.Config, defaultTFTP bool) []error {
	start := unprivilegedPortStart()
	if start == 0 || canBindLow() {
		return nil
	}
	var errs []error
	check := func(key string, addrs []string) {
		for _, a := range addrs {
			_, p, err := net.SplitHostPort(a)
			if n, _ := strconv.Atoi(p); err == nil && n > 0 && n < start {
				errs = append(errs, fmt.Errorf("%s: %s: port %d needs CAP_NET_BIND_SERVICE or root to bind (ports below %d are privileged here)", key, a, n, start))
			}
		}
	}
	if !defaultTFTP {
		check("tftp.listen", cfg.TFTP.Listen)
	}
	check("http.listen", cfg.HTTP.Listen)
	check("sztp.listen", cfg.SZTP.Listen)
	if cfg.Metrics.Listen != "" {
		check("metrics.listen", []string{cfg.Metrics.Listen})
	}
	if cfg.DHCP.Enabled && len(cfg.DHCP.V4.Interfaces) > 0 {
		check("dhcp.v4.interfaces", []string{":67"})
	}
	if cfg.DHCP.Enabled && len(cfg.DHCP.V6.Interfaces) > 0 {
		check("dhcp.v6.interfaces", []string{":547"})
	}
	return errs
}

// unprivilegedPortStart is the lowest port any process may bind (1024
// unless the sysctl says otherwise); 0 when it cannot be read.
func unprivilegedPortStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if err != nil {
		return 1024
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// canBindLow says whether this process has CAP_NET_BIND_SERVICE in its
// effective set (root has it).
func canBindLow() bool {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return os.Geteuid() == 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<capNetBindService) != 0
		}
	}
	return os.Geteuid() == 0
}
