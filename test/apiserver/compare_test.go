package apiserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// The receiver's documented changes to an event (README, "What the receiver does to events").
const (
	annotationRedacted  = "kube-audit/redacted"
	annotationCluster   = "kube-audit/cluster"
	annotationTruncated = "audit.k8s.io/truncated"
	redactedValue       = "[REDACTED]"
	linePrefix          = `{"kind":"Event","apiVersion":"audit.k8s.io/v1",`
)

type event = map[string]any

func decodeEvent(line string) (event, error) {
	d := json.NewDecoder(strings.NewReader(line))
	d.UseNumber()
	var e event
	if err := d.Decode(&e); err != nil {
		return nil, err
	}
	return e, nil
}

// eventKey names one event of one request: a client may reuse an Audit-ID across requests, so
// the ID and stage alone do not tell two events apart, but the timestamps, verb and URI do.
func eventKey(e event) string {
	s := func(k string) string { v, _ := e[k].(string); return v }
	return strings.Join([]string{s("auditID"), s("stage"), s("requestReceivedTimestamp"), s("stageTimestamp"), s("verb"), s("requestURI")}, "|")
}

// expectations says which of the documented changes a scenario's receiver makes.
type expectations struct {
	// cluster is the kube-audit/cluster annotation every line must carry ("" = none).
	cluster string
	// secrets are values that must never appear on the receiver's stdout (redaction is on).
	secrets []string
	// shutdownAt is when the API server was told to stop. Events it finishes after that (the
	// ResponseComplete of its own long-running watches, cut at shutdown) can come after the
	// webhook's buffered backend has closed: the API server then writes them to its log but
	// drops them for the webhook with "audit backend shut down"
	// (k8s.io/apiserver/plugin/pkg/audit/buffered: ProcessEvents after Shutdown). Only such
	// events may be missing from stdout; zero means none may.
	shutdownAt time.Time
}

// afterShutdown tells whether the API server finished the event after it was told to stop.
func (exp expectations) afterShutdown(logLine string) bool {
	if exp.shutdownAt.IsZero() {
		return false
	}
	e, err := decodeEvent(logLine)
	if err != nil {
		return false
	}
	ts, err := time.Parse(time.RFC3339Nano, fmt.Sprint(e["stageTimestamp"]))
	return err == nil && !ts.Before(exp.shutdownAt)
}

// matchLogToStdout checks that every event of the API server's log file is on the receiver's
// stdout exactly once, equal field for field except the receiver's documented changes, and
// that nothing else is there. It returns the number of events matched.
func matchLogToStdout(t testing.TB, logLines, outLines []string, exp expectations) int {
	t.Helper()
	logByKey := map[string][]string{}
	for i, l := range logLines {
		e, err := decodeEvent(l)
		if err != nil {
			t.Fatalf("API server log line %d is not JSON: %v", i+1, err)
		}
		logByKey[eventKey(e)] = append(logByKey[eventKey(e)], l)
	}
	outByKey := map[string][]string{}
	for i, l := range outLines {
		if !strings.HasPrefix(l, linePrefix) {
			t.Errorf("receiver line %d does not start with kind and apiVersion: %.200s", i+1, l)
		}
		for _, s := range exp.secrets {
			if strings.Contains(l, s) {
				t.Errorf("receiver line %d carries a Secret value in clear (%q): %.300s", i+1, s, l)
			}
		}
		e, err := decodeEvent(l)
		if err != nil {
			t.Fatalf("receiver line %d is not JSON: %v", i+1, err)
		}
		outByKey[eventKey(e)] = append(outByKey[eventKey(e)], l)
	}
	keys := unionKeys(logByKey, outByKey)
	matched, failures, cut := 0, 0, 0
	for _, k := range keys {
		want, got := logByKey[k], outByKey[k]
		if len(want) == 1 && len(got) == 0 && exp.afterShutdown(want[0]) {
			cut++
			continue
		}
		if len(want) != len(got) {
			failures++
			if failures <= 10 {
				t.Errorf("event %s: %d in the API server log, %d on the receiver's stdout\nlog: %.400s\nout: %.400s", k, len(want), len(got), first(want), first(got))
			}
			continue
		}
		// Events with the same key are told apart by content; try each pairing in order.
		for i := range want {
			if err := compareEvent(want[i], got[i], exp); err != nil {
				failures++
				if failures <= 10 {
					t.Errorf("event %s differs: %v\nlog: %.600s\nout: %.600s", k, err, want[i], got[i])
				}
				continue
			}
			matched++
		}
	}
	if failures > 10 {
		t.Errorf("... and %d more differences", failures-10)
	}
	if cut > 0 {
		t.Logf("%d events finished during the API server's shutdown were logged but not sent to the webhook", cut)
	}
	return matched
}

func first(lines []string) string {
	if len(lines) == 0 {
		return "(none)"
	}
	return lines[0]
}

// compareEvent checks one receiver line against the API server's log line for the same event.
// An event no step changed is the log line byte for byte (the log backend also writes kind and
// apiVersion first). Otherwise only these differences are allowed, each with its marker:
// kube-audit/cluster added; with kube-audit/redacted, string values replaced by "[REDACTED]";
// with audit.k8s.io/truncated, the request and response bodies removed.
func compareEvent(logLine, outLine string, exp expectations) error {
	if logLine == outLine && exp.cluster == "" {
		return nil
	}
	want, err := decodeEvent(logLine)
	if err != nil {
		return err
	}
	got, err := decodeEvent(outLine)
	if err != nil {
		return err
	}
	wantAnn, _ := want["annotations"].(map[string]any)
	gotAnn, _ := got["annotations"].(map[string]any)
	gotAnn = cloneMap(gotAnn)
	marker := func(name string) bool {
		v, ok := gotAnn[name]
		if !ok {
			return false
		}
		if _, inLog := wantAnn[name]; inLog {
			return false
		}
		delete(gotAnn, name)
		return v == "true"
	}
	if exp.cluster != "" {
		if gotAnn[annotationCluster] != exp.cluster {
			return fmt.Errorf("annotation %s is %v, want %q", annotationCluster, gotAnn[annotationCluster], exp.cluster)
		}
		delete(gotAnn, annotationCluster)
	}
	redacted := marker(annotationRedacted)
	truncated := marker(annotationTruncated)
	if len(gotAnn) == 0 && wantAnn == nil {
		delete(got, "annotations")
	} else {
		got["annotations"] = gotAnn
	}
	if truncated {
		delete(want, "requestObject")
		delete(want, "responseObject")
	}
	if redacted {
		n := unredact(got, want)
		if n == 0 {
			return fmt.Errorf("marked %s but no value is %q", annotationRedacted, redactedValue)
		}
	}
	if !reflect.DeepEqual(want, got) {
		return fmt.Errorf("differs at %s", firstDifference("", want, got))
	}
	// Same fields: then the bytes must be the log's too, apart from the changes above, which
	// the comparison of the decoded values already allowed. Numbers are checked as written.
	if !redacted && !truncated && exp.cluster == "" && !bytes.Equal([]byte(logLine), []byte(outLine)) {
		return fmt.Errorf("same fields, different bytes")
	}
	return nil
}

// unredact copies the log's value into every place where the receiver wrote "[REDACTED]" and the
// log has a string there, so that the rest can be compared; it counts the places.
func unredact(got, want any) int {
	n := 0
	switch g := got.(type) {
	case map[string]any:
		w, ok := want.(map[string]any)
		if !ok {
			return 0
		}
		for k, v := range g {
			if v == redactedValue {
				if ws, ok := w[k].(string); ok && ws != redactedValue {
					g[k] = ws
					n++
				}
				continue
			}
			n += unredact(v, w[k])
		}
	case []any:
		w, ok := want.([]any)
		if !ok {
			return 0
		}
		for i := range g {
			if i < len(w) {
				if g[i] == redactedValue {
					if ws, ok := w[i].(string); ok {
						g[i] = ws
						n++
					}
					continue
				}
				n += unredact(g[i], w[i])
			}
		}
	}
	return n
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func firstDifference(path string, a, b any) string {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: %T vs %T", path, a, b)
		}
		keys := map[string]bool{}
		for k := range av {
			keys[k] = true
		}
		for k := range bv {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			if !reflect.DeepEqual(av[k], bv[k]) {
				return firstDifference(path+"."+k, av[k], bv[k])
			}
		}
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			return fmt.Sprintf("%s: %d items vs %v", path, len(av), describe(b))
		}
		for i := range av {
			if !reflect.DeepEqual(av[i], bv[i]) {
				return firstDifference(fmt.Sprintf("%s[%d]", path, i), av[i], bv[i])
			}
		}
	}
	return fmt.Sprintf("%s: log %.120v, receiver %.120v", path, describe(a), describe(b))
}

func describe(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// unionKeys is every key of a and of b, once each, sorted.
func unionKeys[V any](a, b map[string]V) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}
