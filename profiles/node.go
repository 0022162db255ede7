package profiles

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// parser walks one profile's YAML tree and collects errors.
type parser struct {
	file string
	errs ErrorList
	full bool // maxErrors reached
}

// field is one key of a mapping and its value.
type field struct {
	key, val *yaml.Node
}

// fail records a problem at node n.
func (p *parser) fail(n *yaml.Node, path, allowed, format string, args ...any) {
	if p.full {
		return
	}
	line, col := 1, 1
	if n != nil && n.Line > 0 {
		line, col = n.Line, n.Column
	}
	if len(p.errs) == maxErrors {
		p.full = true
		p.errs = append(p.errs, &Error{File: p.file, Line: line, Col: col, Msg: "too many errors; fix the ones above first"})
		return
	}
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Col: col, Path: path, Msg: fmt.Sprintf(format, args...), Allowed: allowed})
}

// resolve follows aliases, so anchors work anywhere a value is expected.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// entries returns a mapping's keys and values in order, refusing duplicate
// and non-scalar keys. A null value (the key with nothing after it) is an
// empty mapping.
func (p *parser) entries(n *yaml.Node, path string) ([]field, bool) {
	n = resolve(n)
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.MappingNode {
		p.fail(n, path, "", "expected a mapping (key: value lines or {key: value}), found %s", describe(n))
		return nil, false
	}
	seen := map[string]*yaml.Node{}
	var out []field
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.fail(k, path, "", "a key must be a plain word, found %s", describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			p.fail(k, join(path, k.Value), "", "duplicate key %q (first given at line %d)", k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, field{k, resolve(v)})
	}
	return out, true
}

// fields reads a mapping whose keys must come from schema[section] and
// returns its values by key.
func (p *parser) fields(n *yaml.Node, path, section string) (map[string]field, bool) {
	es, ok := p.entries(n, path)
	if !ok {
		return nil, false
	}
	allowed := schema[section]
	out := make(map[string]field, len(es))
	for _, e := range es {
		if !contains(allowed, e.key.Value) {
			p.fail(e.key, join(path, e.key.Value), strings.Join(allowed, ", "), "unknown key %q%s", e.key.Value, suggest(e.key.Value, allowed))
			continue
		}
		out[e.key.Value] = e
	}
	return out, true
}

// str reads a scalar as text; YAML's typing is ignored so that user: 1000 or
// name: yes mean what they say.
func (p *parser) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		p.fail(n, path, "", "expected a text value, found %s", describe(n))
		return "", false
	}
	return n.Value, true
}

func (p *parser) boolean(n *yaml.Node, path string) (bool, bool) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		p.fail(n, path, "true, false", "expected true or false, found %s", describe(n))
		return false, false
	}
	return b, true
}

func (p *parser) integer(n *yaml.Node, path string) (int64, bool) {
	var v int64
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
		p.fail(n, path, "", "expected a whole number, found %s", describe(n))
		return 0, false
	}
	return v, true
}

// describe names what a node is, for "expected X, found Y".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// suggest returns ` (did you mean "x"?)` for the nearest allowed word, if
// any is close enough to be a likely typo.
func suggest(got string, allowed []string) string {
	best, bestD := "", -1
	for _, a := range allowed {
		if d := distance(strings.ToLower(got), a); bestD < 0 || d < bestD {
			best, bestD = a, d
		}
	}
	// Two edits catch most typos and swaps; longer words may drift further.
	if bestD < 0 || bestD >= len(got) || bestD > max(2, len(best)/3) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// distance is the Levenshtein edit distance.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
