// Package tui is the dcres operator console: a Bubble Tea v2 program that is
// a thin face over api.Controller. Every action calls the Controller in a
// tea.Cmd (Update never blocks); everything shown comes from the api.Events
// the Controller publishes.
//
// The layout follows soft-serve's component pattern: each panel (header,
// hosts, memory map, checkpoint list, event log, status line, dialogs, help)
// is a component with Update/View/SetSize sharing one Common (styles, size,
// key map, clock); the root Model routes messages and lays panels out.
package tui
