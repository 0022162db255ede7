package profiles

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocsCoverSchema keeps docs/profiles.md from drifting: every key the
// loader accepts, and every allowed value of its enumerated keys, must be
// named there.
func TestDocsCoverSchema(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "docs", "profiles.md"))
	if err != nil {
		t.Fatalf("docs/profiles.md must document every profile key: %v", err)
	}
	doc := string(data)
	n := 0
	for section, keys := range schema {
		for _, k := range keys {
			n++
			if want := "`" + join(section, k) + "`"; !strings.Contains(doc, want) {
				t.Errorf("docs/profiles.md does not document %s", want)
			}
		}
	}
	if n < 40 {
		t.Errorf("schema has only %d keys; is it complete?", n)
	}
	for _, list := range [][]string{drivers, methods, patterns, refKeywords} {
		for _, v := range list {
			if !strings.Contains(doc, "`"+v+"`") {
				t.Errorf("docs/profiles.md does not mention allowed value `%s`", v)
			}
		}
	}
}
