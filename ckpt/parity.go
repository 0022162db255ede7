package ckpt

import "fmt"

// Parity is Reed-Solomon parity over the hosts' own files of a checkpoint,
// so that the loss of any Parity hosts' files still restores, without a
// full copy of any. Every host's files (its pieces, then its device state,
// in Streams order) are one stream; group g's parity shards are held by
// Hosts[g], ..., Hosts[g+Parity-1] (mod len(Hosts)), and its data shards
// are one segment of the stream of each other host, in ring order: a host
// holds parity only for groups it has no data in, so losing Parity hosts
// loses at most Parity shards of any group. A host's stream is cut into
// Data segments of ceil(bytes/Data) bytes, one for each group it has data
// in, in group order; a shorter shard counts as padded with zeros.
type Parity struct {
	Data    int            `json:"data"`
	Parity  int            `json:"parity"`
	Hosts   []string       `json:"hosts"`
	Streams []ParityStream `json:"streams"`
	Shards  []ParityShard  `json:"shards"`
}

// ParityStream is one host's files in stream order and their total size.
type ParityStream struct {
	Host  string   `json:"host"`
	Files []string `json:"files"`
	Bytes int64    `json:"bytes"`
}

// ParityShard is parity shard Index (0..Parity-1) of group Group, a file of
// the host holding it.
type ParityShard struct {
	Group int `json:"group"`
	Index int `json:"index"`
	FileRef
}

// ParitySegment is a host's data shard in one group: Length bytes of its
// stream from Offset, data shard Idx of the group.
type ParitySegment struct {
	Group, Idx     int
	Offset, Length int64
}

// NewParity is the layout of parity shards over hosts (in ring order).
func NewParity(hosts []string, parity int) (*Parity, error) {
	if parity < 1 || parity >= len(hosts) {
		return nil, fmt.Errorf("%d parity shards need at least %d hosts with data; this checkpoint has %d", parity, parity+1, len(hosts))
	}
	return &Parity{Data: len(hosts) - parity, Parity: parity, Hosts: append([]string(nil), hosts...)}, nil
}

// ParityFile names the file of parity shard index of group g.
func ParityFile(g, index int) string { return fmt.Sprintf("parity-%d-%d", g, index) }

// Holders are the hosts of group g's parity shards, shard 0 first.
func (p *Parity) Holders(g int) []string {
	out := make([]string, p.Parity)
	for j := range out {
		out[j] = p.Hosts[(g+j)%len(p.Hosts)]
	}
	return out
}

// holds reports whether host holds parity of group g.
func (p *Parity) holds(g int, host string) bool {
	for _, h := range p.Holders(g) {
		if h == host {
			return true
		}
	}
	return false
}

// DataHosts are the hosts with a data shard in group g, in shard order.
func (p *Parity) DataHosts(g int) []string {
	var out []string
	for k := 1; k <= len(p.Hosts); k++ {
		h := p.Hosts[(g+k-1)%len(p.Hosts)]
		if !p.holds(g, h) {
			out = append(out, h)
		}
	}
	return out
}

// Segments cuts host's stream of size bytes into its data shards.
func (p *Parity) Segments(host string, size int64) []ParitySegment {
	seg := (size + int64(p.Data) - 1) / int64(p.Data)
	var out []ParitySegment
	for g := range p.Hosts {
		for idx, h := range p.DataHosts(g) {
			if h != host {
				continue
			}
			off := min(int64(len(out))*seg, size)
			out = append(out, ParitySegment{Group: g, Idx: idx, Offset: off, Length: min(seg, size-off)})
		}
	}
	return out
}

// Stream is host's stream, or nil.
func (p *Parity) Stream(host string) *ParityStream {
	for i := range p.Streams {
		if p.Streams[i].Host == host {
			return &p.Streams[i]
		}
	}
	return nil
}

// Shard is parity shard index of group g, or nil.
func (p *Parity) Shard(g, index int) *ParityShard {
	for i := range p.Shards {
		if p.Shards[i].Group == g && p.Shards[i].Index == index {
			return &p.Shards[i]
		}
	}
	return nil
}

func (p *Parity) validate(hosts map[string]bool) error {
	if p.Parity < 1 || p.Data < 1 || p.Data+p.Parity != len(p.Hosts) {
		return fmt.Errorf("parity: %d data and %d parity shards over %d hosts", p.Data, p.Parity, len(p.Hosts))
	}
	seen := map[string]bool{}
	for _, h := range p.Hosts {
		if !hosts[h] || seen[h] {
			return fmt.Errorf("parity: host %q is not in hosts, or named twice", h)
		}
		seen[h] = true
	}
	for _, s := range p.Streams {
		if !seen[s.Host] || s.Bytes < 0 {
			return fmt.Errorf("parity: stream of host %q", s.Host)
		}
		for _, f := range s.Files {
			if err := validFileName(f); err != nil {
				return fmt.Errorf("parity: stream of %s: %w", s.Host, err)
			}
		}
	}
	for _, s := range p.Shards {
		if s.Group < 0 || s.Group >= len(p.Hosts) || s.Index < 0 || s.Index >= p.Parity || p.Holders(s.Group)[s.Index] != s.Host {
			return fmt.Errorf("parity: shard %d of group %d on %s is not where the layout puts it", s.Index, s.Group, s.Host)
		}
	}
	return nil
}
