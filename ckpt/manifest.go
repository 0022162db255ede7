package ckpt

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"dcres/api"
)

// ManifestFormat is the manifest format version this build writes and reads.
const ManifestFormat = 1

// maxManifestLen bounds how much of a manifest file is read.
const maxManifestLen = 256 << 20

// Manifest is a checkpoint's commit record. It is JSON on disk, written last,
// and carries the digest of every file it names.
type Manifest struct {
	Format      int       `json:"format"`
	ID          string    `json:"id"`
	VM          string    `json:"vm"`
	Created     time.Time `json:"created"`
	Method      string    `json:"method"`
	Live        bool      `json:"live"`
	Parent      string    `json:"parent,omitempty"`
	Driver      string    `json:"driver"`
	MemoryBytes int64     `json:"memory_bytes"`
	PageSize    int       `json:"page_size"`
	Main        string    `json:"main"`
	Hosts       []string  `json:"hosts"`
	// Locations is the location table at the cut: the home host of every gfn
	// range; together they cover every page exactly once.
	Locations []api.Range `json:"locations"`
	// Overrides are gfn ranges whose authoritative copy is in the piece of
	// the range's Host instead of the home's (e.g. the main host's dirty
	// cache at the cut).
	Overrides []api.Range `json:"overrides,omitempty"`
	// Contains is, for an incremental checkpoint (Parent set), every gfn
	// range its pieces hold, with the host whose piece holds it: the pages
	// written, or moved to a new home, since the parent's cut. Every other
	// page is as in the parent.
	Contains    []api.Range `json:"contains,omitempty"`
	Pieces      []PieceRef  `json:"pieces"`
	DeviceState *FileRef    `json:"device_state,omitempty"`
	// Replicas are copies of pieces and device state kept on other hosts, so
	// that the loss of a host's checkpoint directory still restores.
	Replicas []Replica `json:"replicas,omitempty"`
	// Copies is how many good copies every piece and device state should
	// have (the original and its replicas). Zero means one more than the
	// fewest replicas any file had at the checkpoint; dcres repair sets it
	// when it adds replicas.
	Copies int `json:"copies,omitempty"`
	// Parity is Reed-Solomon parity over the hosts' files (instead of
	// replicas), or nil.
	Parity   *Parity         `json:"parity,omitempty"`
	VMConfig json.RawMessage `json:"vm_config,omitempty"`
	Stats    json.RawMessage `json:"stats,omitempty"`
	// Checksum is the hex xxh3-128 of the compact JSON of the manifest with
	// Checksum empty. EncodeManifest sets it; DecodeManifest checks it.
	Checksum string `json:"checksum"`
}

// PieceRef names one host's piece file and what it must contain.
type PieceRef struct {
	Host      string `json:"host"`
	File      string `json:"file"`
	Pages     int64  `json:"pages"`
	ZeroPages int64  `json:"zero_pages"`
	Bytes     int64  `json:"bytes"`
	Digest    string `json:"digest"`
}

// FileRef names a plain file (device state) by host, name, size and digest.
type FileRef struct {
	Host   string `json:"host"`
	File   string `json:"file"`
	Bytes  int64  `json:"bytes"`
	Digest string `json:"digest"`
}

// Replica is a copy of host Of's file Original, held by Host as File.
type Replica struct {
	Of       string `json:"of"`
	Original string `json:"original"`
	FileRef
}

// EncodeManifest validates m, sets its Checksum and returns the JSON bytes.
func EncodeManifest(m *Manifest) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	sum, err := m.checksum()
	if err != nil {
		return nil, err
	}
	m.Checksum = sum
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("ckpt: encode manifest: %w", err)
	}
	return append(b, '\n'), nil
}

// DecodeManifest parses and checks a manifest: format version, checksum and
// structure. Unknown fields are refused, since they would be unchecked.
func DecodeManifest(b []byte) (*Manifest, error) {
	var probe struct {
		Format *int `json:"format"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("ckpt: manifest is not valid JSON: %w", err)
	}
	switch {
	case probe.Format == nil:
		return nil, errors.New("ckpt: manifest has no format field: not a dcres manifest")
	case *probe.Format > ManifestFormat:
		return nil, fmt.Errorf("ckpt: manifest format %d is newer than this dcres understands (%d): upgrade dcres to read it", *probe.Format, ManifestFormat)
	case *probe.Format != ManifestFormat:
		return nil, fmt.Errorf("ckpt: manifest format %d is not supported (this dcres reads %d)", *probe.Format, ManifestFormat)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	m := new(Manifest)
	if err := dec.Decode(m); err != nil {
		return nil, fmt.Errorf("ckpt: decode manifest: %w", err)
	}
	if dec.More() {
		return nil, errors.New("ckpt: decode manifest: trailing data after the manifest")
	}
	sum, err := m.checksum()
	if err != nil {
		return nil, err
	}
	if sum != m.Checksum {
		return nil, fmt.Errorf("ckpt: manifest %s/%s checksum mismatch (stored %q, computed %q): the manifest is corrupt or was edited", m.VM, m.ID, m.Checksum, sum)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Manifest) checksum() (string, error) {
	c := *m
	c.Checksum = ""
	b, err := json.Marshal(&c)
	if err != nil {
		return "", fmt.Errorf("ckpt: manifest checksum: %w", err)
	}
	return sum128(b).String(), nil
}

// SameCut reports whether a and b describe the same checkpoint, possibly
// with different redundancy (replicas added by a repair): manifests that
// a repair had not yet rewritten on every host still name the same files.
func SameCut(a, b *Manifest) bool {
	if a.Checksum == b.Checksum {
		return true
	}
	ca, cb := *a, *b
	ca.Replicas, cb.Replicas, ca.Copies, cb.Copies = nil, nil, 0, 0
	sa, err1 := ca.checksum()
	sb, err2 := cb.checksum()
	return err1 == nil && err2 == nil && sa == sb
}

// Pages is the guest's page count.
func (m *Manifest) Pages() uint64 { return uint64(m.MemoryBytes) / uint64(api.PageSize) }

// Validate checks the manifest's structure: names, hosts, and that the
// location table covers every page exactly once.
func (m *Manifest) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("ckpt: manifest %s/%s: "+format, append([]any{m.VM, m.ID}, args...)...)
	}
	if m.Format != ManifestFormat {
		return bad("format %d, want %d", m.Format, ManifestFormat)
	}
	for _, n := range [][2]string{{"id", m.ID}, {"vm", m.VM}, {"method", m.Method}, {"driver", m.Driver}, {"main host", m.Main}} {
		if err := ValidName(n[0], n[1]); err != nil {
			return bad("%v", err)
		}
	}
	if m.Parent != "" {
		if err := ValidName("parent id", m.Parent); err != nil {
			return bad("%v", err)
		}
	}
	if m.PageSize != api.PageSize {
		return bad("page size %d; only %d is supported", m.PageSize, api.PageSize)
	}
	if m.MemoryBytes <= 0 || m.MemoryBytes%api.PageSize != 0 {
		return bad("memory size %d is not a positive multiple of the page size", m.MemoryBytes)
	}
	hosts := map[string]bool{}
	for _, h := range m.Hosts {
		if err := ValidName("host", h); err != nil {
			return bad("%v", err)
		}
		if hosts[h] {
			return bad("host %q listed twice", h)
		}
		hosts[h] = true
	}
	if !hosts[m.Main] {
		return bad("main host %q is not in hosts %v", m.Main, m.Hosts)
	}
	pages := m.Pages()
	var next uint64
	for i, r := range m.Locations {
		switch {
		case !hosts[r.Host]:
			return bad("location %d names host %q, not in hosts %v", i, r.Host, m.Hosts)
		case r.Count == 0:
			return bad("location %d is empty", i)
		case r.Start != next:
			return bad("location %d starts at gfn %d, want %d (the table must cover every page once, in order)", i, r.Start, next)
		case r.Count > pages-r.Start:
			return bad("location %d (%d+%d) runs past the guest's %d pages", i, r.Start, r.Count, pages)
		}
		next = r.Start + r.Count
	}
	if next != pages {
		return bad("location table covers gfns [0, %d), the guest has %d pages", next, pages)
	}
	next = 0
	for i, r := range m.Overrides {
		switch {
		case !hosts[r.Host]:
			return bad("override %d names host %q, not in hosts %v", i, r.Host, m.Hosts)
		case r.Count == 0:
			return bad("override %d is empty", i)
		case i > 0 && r.Start < next:
			return bad("override %d at gfn %d overlaps or precedes the previous one", i, r.Start)
		case r.Start >= pages || r.Count > pages-r.Start:
			return bad("override %d (%d+%d) runs past the guest's %d pages", i, r.Start, r.Count, pages)
		}
		next = r.Start + r.Count
	}
	if len(m.Contains) > 0 && m.Parent == "" {
		return bad("contains is for incremental checkpoints, and this one has no parent")
	}
	next = 0
	for i, r := range m.Contains {
		switch {
		case !hosts[r.Host]:
			return bad("contains %d names host %q, not in hosts %v", i, r.Host, m.Hosts)
		case r.Count == 0:
			return bad("contains %d is empty", i)
		case r.Start >= pages || r.Count > pages-r.Start:
			return bad("contains %d (%d+%d) runs past the guest's %d pages", i, r.Start, r.Count, pages)
		}
	}
	files := map[[2]string]bool{}
	checkFile := func(what, host, file, dig string, size int64) error {
		if !hosts[host] {
			return bad("%s names host %q, not in hosts %v", what, host, m.Hosts)
		}
		if err := validFileName(file); err != nil {
			return bad("%s: %v", what, err)
		}
		if files[[2]string{host, file}] {
			return bad("%s: file %q on host %q named twice", what, file, host)
		}
		files[[2]string{host, file}] = true
		if d, err := hex.DecodeString(dig); err != nil || len(d) != digestLen {
			return bad("%s: digest %q is not %d hex bytes", what, dig, digestLen)
		}
		if size < 0 {
			return bad("%s: negative size", what)
		}
		return nil
	}
	for i, p := range m.Pieces {
		if err := checkFile(fmt.Sprintf("piece %d", i), p.Host, p.File, p.Digest, p.Bytes); err != nil {
			return err
		}
		if p.Pages < 0 || p.ZeroPages < 0 || p.ZeroPages > p.Pages {
			return bad("piece %d: %d pages, %d zero pages", i, p.Pages, p.ZeroPages)
		}
	}
	for i, r := range m.Replicas {
		if err := checkFile(fmt.Sprintf("replica %d", i), r.Host, r.File, r.Digest, r.Bytes); err != nil {
			return err
		}
		if !hosts[r.Of] || r.Of == r.Host {
			return bad("replica %d: a copy of host %q's file on %q", i, r.Of, r.Host)
		}
		if err := validFileName(r.Original); err != nil {
			return bad("replica %d: %v", i, err)
		}
	}
	if m.Copies < 0 {
		return bad("copies %d is negative", m.Copies)
	}
	if p := m.Parity; p != nil {
		if err := p.validate(hosts); err != nil {
			return bad("%v", err)
		}
		for i, s := range p.Shards {
			if err := checkFile(fmt.Sprintf("parity shard %d", i), s.Host, s.File, s.Digest, s.Bytes); err != nil {
				return err
			}
		}
	}
	if d := m.DeviceState; d != nil {
		if err := checkFile("device state", d.Host, d.File, d.Digest, d.Bytes); err != nil {
			return err
		}
	}
	return nil
}

// sortManifests orders by creation time, then id.
func sortManifests(ms []*Manifest) {
	sort.Slice(ms, func(i, j int) bool {
		if !ms[i].Created.Equal(ms[j].Created) {
			return ms[i].Created.Before(ms[j].Created)
		}
		return ms[i].ID < ms[j].ID
	})
}
