package keystore

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/sealboot/sealboot/keystore/regfile"
)

// The scan cache lets a restart skip parsing certificates that did not
// change: for each certificate file that parsed into a usable certificate,
// the file's identity (inode, size, modification and change times, in a
// directory of a given device and inode) and what parsing it gave (key
// fingerprint, subject serial, key type). A file whose identity still
// matches is taken as parsed, without being read.
//
// It is a dot file in the keys directory, beside the pin file, so it has
// the same owner and writers as the pins: whoever can forge it can already
// rewrite the pins or replace the certificates, which is strictly more. It
// is nonetheless trusted for nothing but skipping a parse:
//
//   - only entries whose fingerprint is pinned are used, so a first-sight
//     pin is always made from a certificate parsed in this process;
//   - a certificate's bytes are never taken from it: the DER used to seal is
//     read from the certificate file when first needed, parsed, and must
//     have the pinned fingerprint, or the serial is refused (not served in
//     the clear), the cache is removed and the directory parsed in full;
//   - a file that does not decode exactly (magic, version, length, SHA-256
//     trailer: a torn write, as it is written without fsync), or that was
//     written for another directory or another seal.allow_small_rsa, is
//     ignored and rebuilt.
//
// What a forger could still do is make a certificate look absent or
// another pinned serial's until the directory next changes: a refusal or,
// with allow_plaintext, the plaintext policy for that serial — both within
// reach of anyone who can delete a file in keys_dir.
const (
	scanCacheFile  = ".sealboot-scan-cache"
	scanCacheMagic = "sealboot scan cache 1\n"
	// maxScanCache bounds the file read: ~100 bytes a certificate.
	maxScanCache = 256 << 20
)

// cacheHeader ties a cache to one directory and the options parsing used.
type cacheHeader struct {
	dirDev, dirIno uint64
	allowSmallRSA  bool
}

func (s *Store) cacheHeader(dir *regfile.Dir) cacheHeader {
	dev, ino := dir.Identity()
	return cacheHeader{dirDev: dev, dirIno: ino, allowSmallRSA: s.opts.AllowSmallRSA}
}

// encodeScanCache writes the usable records of files.
func encodeScanCache(h cacheHeader, files map[string]*fileRec) []byte {
	b := make([]byte, 0, 64+len(files)*112)
	b = append(b, scanCacheMagic...)
	b = binary.AppendUvarint(b, h.dirDev)
	b = binary.AppendUvarint(b, h.dirIno)
	b = append(b, boolByte(h.allowSmallRSA))
	n := 0
	for _, f := range files {
		if f.cacheable() {
			n++
		}
	}
	b = binary.AppendUvarint(b, uint64(n))
	for _, f := range sortedFiles(files) {
		if !f.cacheable() {
			continue
		}
		b = appendString(b, f.name)
		b = binary.AppendUvarint(b, f.ino)
		b = binary.AppendVarint(b, f.size)
		b = binary.AppendVarint(b, f.mtime.UnixNano())
		b = binary.AppendVarint(b, f.ctime.UnixNano())
		b = append(b, f.fp[:]...)
		b = appendString(b, f.subject)
		b = appendString(b, f.subjectProblem)
		b = appendString(b, f.keyType)
	}
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

// cacheable: a file that parsed into a usable certificate.
func (f *fileRec) cacheable() bool {
	return f.problem == "" && f.fp != (Fingerprint{}) && !f.stale.Load()
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errBadCache = errors.New("malformed scan cache")

// decodeScanCache reads a cache written for h; any mismatch or damage is
// an error.
func decodeScanCache(data []byte, h cacheHeader) (map[string]*fileRec, error) {
	if len(data) < len(scanCacheMagic)+sha256.Size || !bytes.HasPrefix(data, []byte(scanCacheMagic)) {
		return nil, errBadCache
	}
	body := data[:len(data)-sha256.Size]
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], data[len(body):]) {
		return nil, fmt.Errorf("%w: checksum", errBadCache)
	}
	r := cacheReader{b: body[len(scanCacheMagic):]}
	got := cacheHeader{dirDev: r.uvarint(), dirIno: r.uvarint(), allowSmallRSA: r.byte() == 1}
	if r.err == nil && got != h {
		return nil, errors.New("scan cache is for another directory or other options")
	}
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		return nil, errBadCache
	}
	out := make(map[string]*fileRec, n)
	for range n {
		f := &fileRec{name: r.string(), ino: r.uvarint(), size: r.varint(), fromCache: true}
		f.mtime, f.ctime = time.Unix(0, r.varint()), time.Unix(0, r.varint())
		copy(f.fp[:], r.next(len(f.fp)))
		f.subject, f.subjectProblem, f.keyType = r.string(), r.string(), r.string()
		if r.err != nil || f.name == "" || ignored(f.name) {
			return nil, errBadCache
		}
		out[f.name] = f
	}
	if r.err != nil || len(r.b) != 0 {
		return nil, errBadCache
	}
	return out, nil
}

// cacheReader decodes the cache's fields; the first error sticks.
type cacheReader struct {
	b   []byte
	err error
}

func (r *cacheReader) next(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		r.err = errBadCache
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *cacheReader) byte() byte {
	if b := r.next(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *cacheReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errBadCache
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *cacheReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errBadCache
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *cacheReader) string() string {
	n := r.uvarint()
	if n > maxCertificateFile {
		r.err = errBadCache
		return ""
	}
	return string(r.next(int(n)))
}

// loadScanCache returns the cached records whose fingerprint is pinned;
// nil when there is no usable cache.
func (s *Store) loadScanCache(dir *regfile.Dir, p *pins) map[string]*fileRec {
	h := s.cacheHeader(dir)
	data, _, err := dir.ReadFile(scanCacheFile, maxScanCache)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var recs map[string]*fileRec
	if err == nil {
		recs, err = decodeScanCache(data, h)
	}
	if err != nil {
		s.log.Info("key scan cache ignored: every certificate is parsed and the cache rebuilt", zap.Error(err))
		return nil
	}
	for name, f := range recs {
		if _, pinned := p.byFP[f.fp]; !pinned {
			delete(recs, name)
		}
	}
	return recs
}

// saveScanCache writes the cache for files atomically.
func (s *Store) saveScanCache(files map[string]*fileRec) error {
	dir, err := regfile.OpenDir(s.opts.Dir)
	if err != nil {
		return err
	}
	defer dir.Close()
	// No fsync: a cache lost or torn by a crash fails its checksum and is
	// rebuilt, and a slow disk must not hold up the watch.
	return replaceFile(filepath.Join(s.opts.Dir, scanCacheFile), encodeScanCache(s.cacheHeader(dir), files), 0o600, false)
}
