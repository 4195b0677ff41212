package netns

// Bridge is one Ethernet segment: a Linux bridge in a namespace of its own,
// with a veth pair from each attached namespace. Several DHCP servers and
// clients on one broadcast domain (two appliances in a POP) need it; a
// veth pair joins only two.
type Bridge struct {
	NS   *NS
	Name string
}

// NewBridge makes a bridge in ns and brings it up. Multicast snooping is
// off, so DHCPv6 multicast reaches every port whatever MLD reports the
// bridge has seen.
func NewBridge(ns *NS) (*Bridge, error) {
	b := &Bridge{NS: ns, Name: "br0"}
	for _, argv := range [][]string{
		{"ip", "link", "add", b.Name, "type", "bridge", "mcast_snooping", "0"},
		{"ip", "link", "set", b.Name, "up"},
	} {
		if err := ns.Run(argv...); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Attach joins l to the segment: a veth pair from l (its namespace, name
// and addresses) to a new port of the bridge.
func (b *Bridge) Attach(l *Link) error {
	port := &Link{NS: b.NS}
	if err := Veth(l, port); err != nil {
		return err
	}
	return b.NS.Run("ip", "link", "set", port.Name, "master", b.Name)
}
