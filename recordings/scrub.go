package recordings

import (
	"regexp"
	"strings"

	"dcres/api"
)

// Redacted replaces key material found in a recorded text.
const Redacted = "[redacted]"

var (
	// A PEM block, or its start when the end was cut off.
	pemBlock = regexp.MustCompile(`-----BEGIN [A-Z0-9 ]+-----(?s:.*?)(?:-----END [A-Z0-9 ]+-----|$)`)
	// A long run of base64: a key blob or token. Hex digests (one case, no
	// '+' or '/') are kept: they name data, not secrets.
	blob = regexp.MustCompile(`[A-Za-z0-9+/]{60,}={0,2}`)
	// An absolute or home-relative path of at least two elements.
	// It must start the text or follow a space, quote, '(', '=' or ':', so
	// ratios such as 50/25/25 are not paths.
	path = regexp.MustCompile(`(^|[\s"'(=:])((?:~|/[^\s/"'():,;=]+)(?:/[^\s/"'():,;=]+)+/?)`)
)

// scrubText removes key material and cuts paths to their last element.
func scrubText(s string) string {
	if s == "" {
		return s
	}
	s = pemBlock.ReplaceAllString(s, Redacted)
	s = path.ReplaceAllStringFunc(s, func(m string) string {
		sub := path.FindStringSubmatch(m)
		p := strings.TrimSuffix(sub[2], "/")
		return sub[1] + "…/" + p[strings.LastIndexByte(p, '/')+1:]
	})
	s = blob.ReplaceAllStringFunc(s, func(b string) string {
		if strings.ContainsAny(b, "+/") || (strings.ToLower(b) != b && strings.ToUpper(b) != b) {
			return Redacted
		}
		return b
	})
	return s
}

// scrub returns ev with its free texts scrubbed. It never changes the
// caller's event: slices it rewrites are copied.
func scrub(ev api.Event) api.Event {
	ev.Message = scrubText(ev.Message)
	if ev.Progress != nil {
		p := *ev.Progress
		p.Phase = scrubText(p.Phase)
		ev.Progress = &p
	}
	if ev.Verify != nil {
		v := *ev.Verify
		v.Faults = scrubTexts(v.Faults)
		ev.Verify = &v
	}
	if len(ev.Checkpoints) > 0 {
		cs := make([]api.CheckpointInfo, len(ev.Checkpoints))
		copy(cs, ev.Checkpoints)
		for i := range cs {
			cs[i].Verify = scrubText(cs[i].Verify)
		}
		ev.Checkpoints = cs
	}
	ev.Time = ev.Time.UTC()
	return ev
}

func scrubTexts(in []string) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = scrubText(s)
	}
	return out
}
