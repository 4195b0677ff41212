package plugins

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// CoreDHCP opens its sockets itself and does not expose them, and Linux
// gives a UDP socket about 200 KiB of receive buffer by default: room for
// some 90 DHCP packets. When a whole POP powers up at once, the DISCOVERs
// beyond that are dropped by the kernel before sealboot sees them, and
// each of those devices waits for its retransmission (one second or
// more). raiseReceiveBuffers finds this process's UDP sockets bound to
// port (through /proc) and sets their receive buffers.

// receiveBuffer is one socket's outcome.
type receiveBuffer struct {
	bytes  int  // what the kernel granted (it reports twice what was asked)
	forced bool // SO_RCVBUFFORCE worked (CAP_NET_ADMIN); else capped by net.core.rmem_max
}

func raiseReceiveBuffers(port, size int) ([]receiveBuffer, error) {
	inodes, err := udpInodes(port)
	if err != nil {
		return nil, err
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, err
	}
	var out []receiveBuffer
	for _, e := range fds {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil || !strings.HasPrefix(link, "socket:[") {
			continue
		}
		if !inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] {
			continue
		}
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		rb := receiveBuffer{forced: true}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size); err != nil {
			rb.forced = false
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, size); err != nil {
				return out, fmt.Errorf("SO_RCVBUF on fd %d: %w", fd, err)
			}
		}
		if rb.bytes, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF); err != nil {
			return out, err
		}
		out = append(out, rb)
	}
	if len(out) == 0 {
		return nil, errors.New("no socket of ours on that port")
	}
	return out, nil
}

// udpInodes returns the inodes of the network namespace's UDP sockets
// bound to port, IPv4 and IPv6.
func udpInodes(port int) (map[string]bool, error) {
	want := fmt.Sprintf(":%04X", port)
	out := map[string]bool{}
	for _, name := range []string{"/proc/self/net/udp", "/proc/self/net/udp6"} {
		f, err := os.Open(name)
		if errors.Is(err, os.ErrNotExist) { // IPv6 disabled
			continue
		} else if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
			fields := strings.Fields(sc.Text())
			if len(fields) > 9 && strings.HasSuffix(fields[1], want) {
				out[fields[9]] = true
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return out, nil
}
