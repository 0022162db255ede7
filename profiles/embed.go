package profiles

import (
	"embed"
	"sort"
	"strings"
)

// shipped holds the profiles that come with the binary, so it works from any
// directory.
//
//go:embed *.yaml
var shipped embed.FS

// Embedded returns the shipped profile of that base name ("lab-local").
func Embedded(name string) (*Profile, bool) {
	data, err := shipped.ReadFile(name + ".yaml")
	if err != nil {
		return nil, false
	}
	p, err := Parse(name+".yaml", data)
	if err != nil {
		// A test parses every shipped profile, so this is a build defect.
		panic("profiles: shipped profile " + name + " is invalid: " + err.Error())
	}
	return p, true
}

// EmbeddedNames lists the shipped profiles' base names, sorted.
func EmbeddedNames() []string {
	entries, _ := shipped.ReadDir(".")
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Default is the shipped lab-local profile: three local agents, a 512 MiB
// synthetic guest, and a short demonstration scenario.
func Default() *Profile {
	p, ok := Embedded("lab-local")
	if !ok {
		panic("profiles: lab-local.yaml is not embedded")
	}
	return p
}
