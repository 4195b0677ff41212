package bootstrap

import (
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// optCache keeps the encoded DHCPv4 options of each answer shape: the
// same device (or any device of the same subnet, file and profile) gets
// the same options every time, so they are encoded once, not at every
// OFFER and ACK. Replies share the encoded bytes, which nothing writes to
// (the reply is only serialised). A new configuration (reload) starts an
// empty cache; it holds at most maxOptShapes shapes, and is emptied when
// full.
type optCache struct {
	mu  sync.Mutex
	cfg *Config
	m   map[optKey4][]encodedOpt
}

// maxOptShapes bounds the cache: about 300 bytes a shape.
const maxOptShapes = 20000

// optKey4 is everything fill4's options depend on.
type optKey4 struct {
	sub          *Subnet
	lease        time.Duration
	sztp         bool
	file, handed string
	juniper      bool
	profile      *Profile
}

type encodedOpt struct {
	code  uint8
	value []byte
}

// get returns the options for k under cfg, building them with build on a
// miss.
func (c *optCache) get(cfg *Config, k optKey4, build func(add func(dhcpv4.Option))) []encodedOpt {
	c.mu.Lock()
	if c.cfg != cfg || len(c.m) >= maxOptShapes {
		c.cfg, c.m = cfg, make(map[optKey4][]encodedOpt)
	}
	opts, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return opts
	}
	build(func(o dhcpv4.Option) {
		code, value := o.Code.Code(), o.Value.ToBytes()
		for i := range opts { // a later option with the same code wins, in place
			if opts[i].code == code {
				opts[i].value = value
				return
			}
		}
		opts = append(opts, encodedOpt{code, value})
	})
	c.mu.Lock()
	if c.cfg == cfg {
		c.m[k] = opts
	}
	c.mu.Unlock()
	return opts
}

// apply sets opts on resp, as UpdateOption would.
func apply(resp *dhcpv4.DHCPv4, opts []encodedOpt) {
	if resp.Options == nil {
		resp.Options = make(dhcpv4.Options, len(opts))
	}
	for _, o := range opts {
		resp.Options[o.code] = o.value
	}
}
