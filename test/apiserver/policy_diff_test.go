package apiserver

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

const diffNamespace = "policy-diff"

// policyWorkload makes the same requests, with the same Audit-IDs (diff-0001, …), every time it
// runs, so that two API servers' events can be paired request by request.
func policyWorkload(t testing.TB, base *rest.Config) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var n atomic.Int64
	withIDs := func(c *rest.Config) *rest.Config { return withAuditIDs(c, "diff", &n) }
	cfg := withIDs(base)
	cs := kubernetes.NewForConfigOrDie(cfg)
	ns := diffNamespace
	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	step("create namespace", err)
	// Non-resource URLs.
	for _, p := range []string{"/version", "/healthz", "/readyz", "/api", "/apis"} {
		step("GET "+p, cs.CoreV1().RESTClient().Get().AbsPath(p).Do(ctx).Error())
	}
	// The named ConfigMap, created, read, patched, updated; another one beside it.
	_, err = cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"mode": "on"}}, metav1.CreateOptions{})
	step("create settings", err)
	_, err = cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "other"}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{})
	step("create other", err)
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "settings", metav1.GetOptions{})
	step("get settings", err)
	_, err = cs.CoreV1().ConfigMaps(ns).Patch(ctx, "settings", "application/merge-patch+json", []byte(`{"data":{"mode":"off"}}`), metav1.PatchOptions{})
	step("patch settings", err)
	cm, err = cs.CoreV1().ConfigMaps(ns).Get(ctx, "settings", metav1.GetOptions{})
	step("get settings", err)
	cm.Data["extra"] = "1"
	_, err = cs.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{})
	step("update settings", err)
	_, err = cs.CoreV1().ConfigMaps(ns).Patch(ctx, "other", "application/apply-patch+yaml", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"other"},"data":{"k":"w"}}`), metav1.PatchOptions{FieldManager: "diff", Force: ptr.To(true)})
	step("apply other", err)
	// Lists: plain, and as the Table kubectl asks for (rows carry each object's metadata).
	_, err = cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	step("list configmaps", err)
	step("list configmaps as Table", cs.CoreV1().RESTClient().Get().Namespace(ns).Resource("configmaps").SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").Do(ctx).Error())
	// A watch that ends on its server-side timeout.
	w, err := cs.CoreV1().ConfigMaps(ns).Watch(ctx, metav1.ListOptions{TimeoutSeconds: ptr.To[int64](1)})
	step("watch configmaps", err)
	for range w.ResultChan() {
	}
	// A Secret with data.
	_, err = cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db"}, StringData: map[string]string{"password": "fixed-for-the-diff"}}, metav1.CreateOptions{})
	step("create secret", err)
	_, err = cs.CoreV1().Secrets(ns).Get(ctx, "db", metav1.GetOptions{})
	step("get secret", err)
	// The namespace's status subresource.
	step("get namespace status", cs.CoreV1().RESTClient().Get().Resource("namespaces").Name(ns).SubResource("status").Do(ctx).Error())
	// A ServiceAccount, its token (serviceaccounts/token), a review of it, and requests made with it.
	_, err = cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app"}}, metav1.CreateOptions{})
	step("create serviceaccount", err)
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "app", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	step("create token", err)
	_, err = cs.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: tr.Status.Token}}, metav1.CreateOptions{})
	step("token review", err)
	sa := rest.AnonymousClientConfig(base)
	sa.BearerToken = tr.Status.Token
	sa = withIDs(sa)
	saClient := kubernetes.NewForConfigOrDie(sa)
	_, _ = saClient.CoreV1().ConfigMaps(ns).Get(ctx, "settings", metav1.GetOptions{})
	_, _ = saClient.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "by-sa"}}, metav1.CreateOptions{})
	// Impersonation: the event's user is the impersonator, impersonatedUser the other.
	imp := withIDs(base)
	imp.Impersonate = rest.ImpersonationConfig{UserName: "alice", Groups: []string{"developers"}}
	_, _ = kubernetes.NewForConfigOrDie(imp).CoreV1().ConfigMaps(ns).Get(ctx, "settings", metav1.GetOptions{})
	// Not found.
	_, _ = cs.CoreV1().ConfigMaps(ns).Get(ctx, "missing", metav1.GetOptions{})
	// Noise that the example policies drop: a Lease and an Event.
	_, err = cs.CoordinationV1().Leases(ns).Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "holder"}, Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("me")}}, metav1.CreateOptions{})
	step("create lease", err)
	_, err = cs.CoreV1().Events(ns).Create(ctx, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "ev"}, InvolvedObject: corev1.ObjectReference{Kind: "ConfigMap", Namespace: ns, Name: "settings"}, Reason: "Test", Message: "m", Type: "Normal"}, metav1.CreateOptions{})
	step("create event", err)
	// Deletes.
	step("delete other", cs.CoreV1().ConfigMaps(ns).Delete(ctx, "other", metav1.DeleteOptions{}))
	step("delete settings", cs.CoreV1().ConfigMaps(ns).Delete(ctx, "settings", metav1.DeleteOptions{}))
	step("delete secret", cs.CoreV1().Secrets(ns).Delete(ctx, "db", metav1.DeleteOptions{}))
}

// volatile fields differ between two API servers for the same request (identities, versions,
// times, freshly minted tokens, the age column of a Table, the API server's own address in
// discovery); they are left out of the comparison.
var volatile = map[string]bool{
	"uid": true, "resourceVersion": true, "creationTimestamp": true, "time": true, "token": true,
	"expirationTimestamp": true, "extra": true, "cells": true, "requestReceivedTimestamp": true,
	"stageTimestamp": true, "serverAddress": true,
}

func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, val := range x {
			if !volatile[k] {
				out[k] = normalize(val)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = normalize(x[i])
		}
		return out
	}
	return v
}

// diffView is what must be the same whichever side applied the Policy: which stage of which
// request was recorded, at what level, with which bodies.
func diffView(e event) event {
	out := event{}
	for _, k := range []string{"level", "stage", "verb", "requestURI", "objectRef", "responseStatus", "requestObject", "responseObject", "impersonatedUser"} {
		if v, ok := e[k]; ok {
			out[k] = normalize(v)
		}
	}
	if u, ok := e["user"].(map[string]any); ok {
		out["user"] = map[string]any{"username": u["username"], "groups": u["groups"]}
	}
	return out
}

// workloadEvents are the events of policyWorkload's requests, by auditID and stage.
func workloadEvents(t testing.TB, lines []string) map[string]event {
	out := map[string]event{}
	for _, l := range lines {
		e, err := decodeEvent(l)
		must(t, err)
		id, _ := e["auditID"].(string)
		if !strings.HasPrefix(id, "diff-") {
			continue
		}
		key := id + " " + e["stage"].(string)
		if _, dup := out[key]; dup {
			t.Errorf("two events for %s", key)
		}
		out[key] = e
	}
	return out
}

// TestPolicyDifferential runs the same workload twice per Policy P: once with the API server
// applying P itself (its log is the reference), once with the API server recording everything
// at RequestResponse and the receiver applying P (AUDIT_POLICY_FILE). The same requests, stages,
// levels and bodies must come out.
func TestPolicyDifferential(t *testing.T) {
	root := repoRoot(t)
	examples, err := filepath.Glob(filepath.Join(root, "docs", "examples", "policies", "*.yaml"))
	must(t, err)
	policies := append(examples, filepath.Join(root, "deploy", "apiserver", "audit-policy.yaml"), filepath.Join(root, "test", "apiserver", "testdata", "policy-rules.yaml"))
	everything := writeFile(t, filepath.Join(t.TempDir(), "everything.yaml"), everythingPolicy)
	for _, policy := range policies {
		name := strings.TrimSuffix(filepath.Base(policy), ".yaml")
		t.Run(name, func(t *testing.T) {
			// The API server applies P.
			dirA := t.TempDir()
			apiA := startAPIServer(t, dirA, policy, "")
			policyWorkload(t, apiA.ClientConfig)
			apiA.stop()

			// The receiver applies P to everything.
			dirB := t.TempDir()
			ports, err := freePorts(2)
			must(t, err)
			env := receiverEnv(modeHTTP, pki{dir: dirB}, ports[0], ports[1])
			env["AUDIT_POLICY_FILE"] = policy
			env["REDACT"] = "off"
			r := startReceiver(t, nodeRuntime, dirB, "receiver", receiverOptions{env: env})
			kubeconfig := filepath.Join(dirB, "webhook.kubeconfig.yaml")
			renderKubeconfig(t, modeHTTP, webhookHostPort(modeHTTP, ports[0], ports[1]), pki{}, kubeconfig)
			apiB := startAPIServer(t, dirB, everything, kubeconfig)
			policyWorkload(t, apiB.ClientConfig)
			apiB.stop()
			r.stop()
			artifacts(t, "policy-"+name+"/apiserver-applies", apiA.auditLog)
			artifacts(t, "policy-"+name+"/receiver-applies", apiB.auditLog, r.stdoutPath)

			want := workloadEvents(t, readLines(t, apiA.auditLog))
			got := workloadEvents(t, readLines(t, r.stdoutPath))
			if len(want) == 0 {
				t.Fatal("the workload left no event in the API server's log")
			}
			keys := unionKeys(want, got)
			for _, k := range keys {
				w, inA := want[k]
				g, inB := got[k]
				switch {
				case !inB:
					t.Errorf("%s: the API server records %s %s at %v; the receiver drops it", k, w["verb"], w["requestURI"], w["level"])
				case !inA:
					t.Errorf("%s: the API server drops %s %s; the receiver keeps it at %v", k, g["verb"], g["requestURI"], g["level"])
				default:
					wv, gv := diffView(w), diffView(g)
					if !reflect.DeepEqual(wv, gv) {
						t.Errorf("%s %s %s: differs at %s", k, w["verb"], w["requestURI"], firstDifference("", wv, gv))
					}
				}
			}
			t.Logf("%d workload events from the API server applying %s, %d from the receiver", len(want), filepath.Base(policy), len(got))
		})
	}
}
