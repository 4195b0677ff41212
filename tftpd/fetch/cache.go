package fetch

import (
	"container/list"
	"sync"
)

// cache keeps sealed configs so that retries and retransmissions get
// identical bytes without sealing again. Its key holds the config's SHA-256,
// the certificate's fingerprint and the seal options, so a change to any of
// them misses at once. It is bounded by bytes, least recently used first out.
type cache struct {
	mu    sync.Mutex
	limit int64
	size  int64
	order *list.List // front: most recent
	items map[string]*list.Element
}

type cacheItem struct {
	key  string
	data []byte
}

func newCache(limit int64) *cache {
	return &cache{limit: limit, order: list.New(), items: map[string]*list.Element{}}
}

func (c *cache) get(key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*cacheItem).data, true
}

func (c *cache) put(key string, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if int64(len(data)) > c.limit {
		return
	}
	if el, ok := c.items[key]; ok {
		c.order.MoveToFront(el)
		return
	}
	c.items[key] = c.order.PushFront(&cacheItem{key, data})
	c.size += int64(len(data))
	c.evict()
}

// setLimit changes the bound (reload).
func (c *cache) setLimit(limit int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.limit = limit
	c.evict()
}

func (c *cache) evict() {
	for c.size > c.limit {
		el := c.order.Back()
		it := el.Value.(*cacheItem)
		c.order.Remove(el)
		delete(c.items, it.key)
		c.size -= int64(len(it.data))
	}
}
