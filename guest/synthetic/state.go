package synthetic

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/zeebo/xxh3"

	"dcres/api"
)

// Device state layout, little endian:
//
//	magic [8]byte "DCRSYNG1" | format uint32 | npages uint64 | cursor uint64 |
//	pagesRead, pagesWritten, checkErrors int64 | rngLen uint32 | rng [rngLen] |
//	versions [npages]uint32 | xxh3 of everything before uint64
const (
	stateMagic   = "DCRSYNG1"
	stateFormat  = 1
	stateHeader  = 8 + 4 + 8 + 8 + 3*8 + 4
	maxRNGLength = 1 << 10
)

var errRunning = errors.New("synthetic: the guest is running; Pause it first")

// DeviceState returns the guest's state: version table, rng, cursor and
// counters. The guest must be paused (or not started).
func (g *Guest) DeviceState() ([]byte, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state == api.StateRunning {
		return nil, errRunning
	}
	rng, err := g.pcg.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("synthetic: saving the rng: %w", err)
	}
	le := binary.LittleEndian
	b := make([]byte, 0, stateHeader+len(rng)+4*len(g.versions)+8)
	b = append(b, stateMagic...)
	b = le.AppendUint32(b, stateFormat)
	b = le.AppendUint64(b, g.npages)
	b = le.AppendUint64(b, g.cursor)
	b = le.AppendUint64(b, uint64(g.pagesRead.Load()))
	b = le.AppendUint64(b, uint64(g.pagesWritten.Load()))
	b = le.AppendUint64(b, uint64(g.checkErrors.Load()))
	b = le.AppendUint32(b, uint32(len(rng)))
	b = append(b, rng...)
	for _, v := range g.versions {
		b = le.AppendUint32(b, v)
	}
	return le.AppendUint64(b, xxh3.Hash(b)), nil
}

// LoadDeviceState replaces the guest's state with b, from DeviceState of a
// guest of the same memory size. Call it before Start.
func (g *Guest) LoadDeviceState(b []byte) error {
	le := binary.LittleEndian
	if len(b) < stateHeader+8 || string(b[:8]) != stateMagic {
		return errors.New("synthetic: not a synthetic guest device state (bad magic or too short)")
	}
	if f := le.Uint32(b[8:]); f != stateFormat {
		return fmt.Errorf("synthetic: device state format %d, this build reads %d", f, stateFormat)
	}
	body, sum := b[:len(b)-8], le.Uint64(b[len(b)-8:])
	if xxh3.Hash(body) != sum {
		return errors.New("synthetic: device state checksum mismatch (truncated or damaged)")
	}
	npages := le.Uint64(b[12:])
	if npages != g.npages {
		return fmt.Errorf("synthetic: device state is for %d pages, this guest has %d", npages, g.npages)
	}
	rngLen := int(le.Uint32(b[stateHeader-4:]))
	if rngLen > maxRNGLength || len(body) != stateHeader+rngLen+4*int(npages) {
		return fmt.Errorf("synthetic: device state of %d bytes does not match its header", len(b))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done != nil {
		return errors.New("synthetic: LoadDeviceState after Start; load into a new guest")
	}
	if err := g.pcg.UnmarshalBinary(b[stateHeader : stateHeader+rngLen]); err != nil {
		return fmt.Errorf("synthetic: restoring the rng: %w", err)
	}
	g.cursor = le.Uint64(b[20:])
	if g.cursor >= g.npages {
		return fmt.Errorf("synthetic: cursor %d outside %d pages", g.cursor, g.npages)
	}
	g.pagesRead.Store(int64(le.Uint64(b[28:])))
	g.pagesWritten.Store(int64(le.Uint64(b[36:])))
	g.checkErrors.Store(int64(le.Uint64(b[44:])))
	vs := b[stateHeader+rngLen:]
	for i := range g.versions {
		g.versions[i] = le.Uint32(vs[4*i:])
	}
	return nil
}

// VerifyAll reads every page through the memory and checks it against the
// version table, while the guest is paused (or not started). It does not
// change the guest's counters and reports no errors to OnError.
func (g *Guest) VerifyAll(ctx context.Context) (pages, errs int64, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state == api.StateRunning {
		return 0, 0, errRunning
	}
	for gfn := range g.npages {
		v := g.versions[gfn]
		var bad bool
		if aerr := g.mem.Access(ctx, gfn, false, func(page []byte) { bad = Check(page, gfn, v) != nil }); aerr != nil {
			return pages, errs, fmt.Errorf("synthetic: verify stopped at page %d: %w", gfn, aerr)
		}
		pages++
		if bad {
			errs++
		}
	}
	return pages, errs, nil
}
