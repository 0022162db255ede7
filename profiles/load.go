package profiles

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads and validates the profile in the file at path. Problems come
// back as an *Error, or an ErrorList when there are several.
func Load(path string) (*Profile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read profile: %w", err)
	}
	return Parse(path, data)
}

// Parse validates a profile's YAML text. name is the file name used in
// messages and, without its extension, the profile's default name.
func Parse(name string, data []byte) (*Profile, error) {
	p := &parser{file: name}
	prof := p.parse(name, data)
	switch len(p.errs) {
	case 0:
		return prof, nil
	case 1:
		return nil, p.errs[0]
	}
	return nil, p.errs
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (p *parser) parse(name string, data []byte) *Profile {
	if len(data) > maxInput {
		p.fail(nil, "", "", "profile is %d bytes; a profile is at most %d bytes", len(data), maxInput)
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.fail(nil, "", "", "profile is empty; it needs at least vm and lab or hosts (see docs/profiles.md)")
			return nil
		}
		p.syntax(err)
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.fail(&extra, "", "", "a profile is one YAML document; remove the second \"---\" and what follows")
		return nil
	} else if !errors.Is(err, io.EOF) {
		p.syntax(err)
		return nil
	}
	root := &doc
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		root = doc.Content[0]
	}
	top, ok := p.fields(root, "", "")
	if !ok {
		return nil
	}
	prof := &Profile{Source: name}
	prof.Name = strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
	if f, ok := top["name"]; ok {
		if s, ok := p.str(f.val, "name"); ok {
			if !profileName.MatchString(s) {
				p.fail(f.val, "name", "letters, digits, '.', '_' and '-'", "profile name %q has other characters", s)
			}
			prof.Name = s
		}
	}
	if f, ok := top["description"]; ok {
		prof.Description, _ = p.str(f.val, "description")
	}
	hostsOK := p.cluster(prof, root, top)
	prof.KnownHosts = defaultKnownHosts
	if f, ok := top["known_hosts"]; ok {
		prof.KnownHosts, _ = p.str(f.val, "known_hosts")
	}
	var hosts []string
	if hostsOK {
		hosts = prof.HostNames()
	}
	if f, ok := top["vm"]; ok {
		p.vm(&prof.VM, f.val, hosts)
	} else {
		p.fail(root, "vm", "", "profile has no vm section; it needs at least vm.memory")
	}
	p.checkpointPolicy(&prof.Checkpoint, top["checkpoint"], prof.VM.Driver)
	prof.Restore.Placement = defaultPlacement
	if f, ok := top["restore"]; ok {
		if rf, ok := p.fields(f.val, "restore", "restore"); ok {
			if pf, ok := rf["placement"]; ok {
				if s, ok := p.placement(pf.val, "restore.placement", hosts); ok {
					prof.Restore.Placement = s
				}
			}
		}
	}
	if f, ok := top["scenario"]; ok {
		prof.Scenario = p.scenario(f.val, prof, hosts)
	}
	return prof
}

// syntax turns a YAML parse error into an Error with the line it names.
func (p *parser) syntax(err error) {
	msg := err.Error()
	line := 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	p.fail(&yaml.Node{Line: line, Column: 1}, "", "", "YAML syntax: %s", msg)
}

var (
	profileName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	hostName    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
)

const hostNameRule = "1 to 32 of a-z, 0-9 and '-', not starting with '-'"
