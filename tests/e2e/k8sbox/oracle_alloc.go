package main

// `k8sbox oracle alloc`: what kube-scheduler v1.36's DynamicResources plugin decides for a pod's
// claims on each node, computed with the upstream structured allocator.
//
// Case (one JSON line):
//
//	{"id": any,
//	 "gates": {"DRAConsumableCapacity": false, ...},   // feature gates over the 1.36 defaults
//	 "objects": [ {Kubernetes object}, ... ],           // Nodes, DeviceClasses, ResourceSlices,
//	                                                    // ResourceClaims (allocated ones too),
//	                                                    // ResourceClaimTemplates, Pods, DeviceTaintRules;
//	                                                    // any served version of resource.k8s.io
//	 "simulate": ["pod/NS/NAME" | "claim/NS/NAME" | "template/NS/NAME" | "NS/NAME", ...],
//	 "nodes": ["node-1", ...],                          // default: every Node, by name
//	 "timeoutSeconds": 10}
//
// Result:
//
//	{"id": any, "features": {...allocator features...}, "allocator": "incubating",
//	 "prefilter": {"status": "Unschedulable"|"Error", "message": "..."},   // when PreFilter stops
//	 "nodes": [{"name": "node-1", "allocatable": bool, "status": "Success"|"Unschedulable"|"Error",
//	            "message": "...", "results": [{"claim": "ns/name", "request": "req[/sub]",
//	            "driver": ..., "pool": ..., "device": ..., "adminAccess": bool, "shareID": bool,
//	            "consumedCapacity": {name: quantity}}]}]}
//
// Mirrors pkg/scheduler/framework/plugins/dynamicresources (PreFilter + Filter) at v1.36.3:
// the allocated state is built as claimTracker.GatherAllocatedState / ListAllAllocatedDevices
// do (foreachAllocatedDevice), DeviceTaintRules patch the slices as the ResourceSlice tracker's
// applyPatches does when DRADeviceTaintRules is on, the allocator features come from
// AllocatorFeatures(NewSchedulerFeaturesFromGates(gates)) and the CEL cache from the same gates.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	resourcev1 "k8s.io/api/resource/v1"
	resourcev1beta2 "k8s.io/api/resource/v1beta2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/dynamic-resource-allocation/cel"
	"k8s.io/dynamic-resource-allocation/resourceclaim"
	"k8s.io/dynamic-resource-allocation/structured"
	resourceinternal "k8s.io/kubernetes/pkg/apis/resource"
	resourcevalidation "k8s.io/kubernetes/pkg/apis/resource/validation"
	"k8s.io/kubernetes/pkg/features"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/dynamicresources"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/feature"
	"k8s.io/utils/ptr"
)

type allocInput struct {
	ID       any               `json:"id"`
	Gates    map[string]bool   `json:"gates"`
	Objects  []json.RawMessage `json:"objects"`
	Simulate any               `json:"simulate"`
	Nodes    []string          `json:"nodes"`
	// AllocatorFeatures overrides single allocator features after the gates (e.g. AdminAccess,
	// which 1.36 locks on): {"AdminAccess": false}
	AllocatorFeatures map[string]bool `json:"allocatorFeatures"`
	TimeoutSeconds    float64         `json:"timeoutSeconds"`
}

type allocDevice struct {
	Claim            string            `json:"claim"`
	Request          string            `json:"request"`
	Driver           string            `json:"driver"`
	Pool             string            `json:"pool"`
	Device           string            `json:"device"`
	AdminAccess      bool              `json:"adminAccess,omitempty"`
	Shared           bool              `json:"shareID,omitempty"`
	ConsumedCapacity map[string]string `json:"consumedCapacity,omitempty"`
}

type allocNode struct {
	Name        string        `json:"name"`
	Allocatable bool          `json:"allocatable"`
	Status      string        `json:"status"`
	Message     string        `json:"message,omitempty"`
	Results     []allocDevice `json:"results"`
}

type allocStatus struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

type allocOutput struct {
	ID        any                 `json:"id"`
	CaseError string              `json:"caseError,omitempty"`
	Features  structured.Features `json:"features"`
	Invalid   []string            `json:"invalid,omitempty"`
	Prefilter *allocStatus        `json:"prefilter,omitempty"`
	Nodes     []allocNode         `json:"nodes"`
}

// ------------------------------------------------------------------ feature gates

type gateSet struct {
	fts      feature.Features
	taints   bool // DRADeviceTaintRules: the slice tracker applies DeviceTaintRules
	celCache *cel.Cache
}

var (
	gateMu    sync.Mutex
	gateCache = map[string]*gateSet{}
)

// gatesFor: the scheduler's view of the given gates (over the binary's 1.36 defaults), cached.
func gatesFor(overrides map[string]bool) (*gateSet, error) {
	keys := make([]string, 0, len(overrides))
	for k, v := range overrides {
		keys = append(keys, fmt.Sprintf("%s=%v", k, v))
	}
	sort.Strings(keys)
	key := strings.Join(keys, ",")
	gateMu.Lock()
	defer gateMu.Unlock()
	if gs, ok := gateCache[key]; ok {
		return gs, nil
	}
	fg := utilfeature.DefaultMutableFeatureGate.DeepCopy()
	if len(overrides) > 0 {
		if err := fg.SetFromMap(overrides); err != nil {
			return nil, err
		}
	}
	fts := feature.NewSchedulerFeaturesFromGates(fg)
	gs := &gateSet{
		fts:    fts,
		taints: fg.Enabled(features.DRADeviceTaintRules),
		// as dynamicresources.New builds it
		celCache: cel.NewCache(10, cel.Features{
			EnableConsumableCapacity: fts.EnableDRAConsumableCapacity,
			EnableListTypeAttributes: fts.EnableDRAListTypeAttributes,
		}),
	}
	gateCache[key] = gs
	return gs, nil
}

// ------------------------------------------------------------------ cluster

type classLister struct {
	classes map[string]*resourcev1.DeviceClass
}

func (l classLister) List() ([]*resourcev1.DeviceClass, error) {
	out := make([]*resourcev1.DeviceClass, 0, len(l.classes))
	for _, c := range l.classes {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (l classLister) Get(name string) (*resourcev1.DeviceClass, error) {
	if c, ok := l.classes[name]; ok {
		return c, nil
	}
	return nil, apierrors.NewNotFound(resourcev1.Resource("deviceclasses"), name)
}

type cluster struct {
	nodes     map[string]*corev1.Node
	classes   map[string]*resourcev1.DeviceClass
	slices    []*resourcev1.ResourceSlice
	claims    map[string]*resourcev1.ResourceClaim // ns/name
	claimList []*resourcev1.ResourceClaim
	templates map[string]*resourcev1.ResourceClaimTemplate
	pods      map[string]*corev1.Pod
	rules     []*resourcev1beta2.DeviceTaintRule
	// what API validation (create) rejects: such objects cannot exist in a cluster
	invalid []string
}

func readCluster(objects []json.RawMessage) (*cluster, error) {
	c := &cluster{
		nodes:     map[string]*corev1.Node{},
		classes:   map[string]*resourcev1.DeviceClass{},
		claims:    map[string]*resourcev1.ResourceClaim{},
		templates: map[string]*resourcev1.ResourceClaimTemplate{},
		pods:      map[string]*corev1.Pod{},
	}
	for i, raw := range objects {
		obj, internal, err := decodeBoth(raw)
		if err != nil {
			return nil, fmt.Errorf("object #%d: %w", i, err)
		}
		c.validate(internal)
		switch o := obj.(type) {
		case *corev1.Node:
			c.nodes[o.Name] = o
		case *resourcev1.DeviceClass:
			c.classes[o.Name] = o
		case *resourcev1.ResourceSlice:
			c.slices = append(c.slices, o)
		case *resourcev1.ResourceClaim:
			if o.Namespace == "" {
				o.Namespace = "default"
			}
			if o.UID == "" {
				o.UID = ktypesUID("uid-claim-" + o.Namespace + "/" + o.Name)
			}
			c.claims[o.Namespace+"/"+o.Name] = o
			c.claimList = append(c.claimList, o)
		case *resourcev1.ResourceClaimTemplate:
			if o.Namespace == "" {
				o.Namespace = "default"
			}
			c.templates[o.Namespace+"/"+o.Name] = o
		case *corev1.Pod:
			if o.Namespace == "" {
				o.Namespace = "default"
			}
			if o.UID == "" {
				o.UID = ktypesUID("uid-pod-" + o.Namespace + "/" + o.Name)
			}
			c.pods[o.Namespace+"/"+o.Name] = o
		case *resourcev1beta2.DeviceTaintRule:
			c.rules = append(c.rules, o)
		default:
			// Namespaces and anything else: not read by the allocator
		}
	}
	// informers hand out no order; the allocator sorts what matters, we fix the rest by name
	sort.SliceStable(c.slices, func(i, j int) bool { return c.slices[i].Name < c.slices[j].Name })
	sort.SliceStable(c.rules, func(i, j int) bool { return c.rules[i].Name < c.rules[j].Name })
	return c, nil
}

// validate runs the API server's create validation on claims, templates, classes and slices.
func (c *cluster) validate(obj runtime.Object) {
	var errs field.ErrorList
	var what string
	switch o := obj.(type) {
	case *resourceinternal.ResourceClaim:
		if o.Namespace == "" {
			o.Namespace = "default"
		}
		what, errs = "ResourceClaim "+o.Namespace+"/"+o.Name, resourcevalidation.ValidateResourceClaim(o)
	case *resourceinternal.ResourceClaimTemplate:
		if o.Namespace == "" {
			o.Namespace = "default"
		}
		what, errs = "ResourceClaimTemplate "+o.Namespace+"/"+o.Name, resourcevalidation.ValidateResourceClaimTemplate(o)
	case *resourceinternal.DeviceClass:
		what, errs = "DeviceClass "+o.Name, resourcevalidation.ValidateDeviceClass(o)
	case *resourceinternal.ResourceSlice:
		what, errs = "ResourceSlice "+o.Name, resourcevalidation.ValidateResourceSlice(o)
	}
	if len(errs) > 0 {
		c.invalid = append(c.invalid, what+": "+errs.ToAggregate().Error())
	}
}

func ktypesUID(s string) types.UID {
	return types.UID(strings.NewReplacer("/", "-", ".", "-").Replace(s))
}

// patchedSlices: the slices with DeviceTaintRules applied (resourceslice/tracker applyPatches).
func (c *cluster) patchedSlices(enabled bool) []*resourcev1.ResourceSlice {
	if !enabled || len(c.rules) == 0 {
		return c.slices
	}
	out := make([]*resourcev1.ResourceSlice, 0, len(c.slices))
	for _, slice := range c.slices {
		patched := slice
		for _, rule := range c.rules {
			sel := rule.Spec.DeviceSelector
			var deviceName *string
			if sel != nil {
				if sel.Driver != nil && *sel.Driver != slice.Spec.Driver {
					continue
				}
				if sel.Pool != nil && *sel.Pool != slice.Spec.Pool.Name {
					continue
				}
				deviceName = sel.Device
			}
			for i, device := range slice.Spec.Devices {
				if deviceName != nil && *deviceName != device.Name {
					continue
				}
				taint := resourcev1.DeviceTaint{
					Key:       rule.Spec.Taint.Key,
					Value:     rule.Spec.Taint.Value,
					Effect:    resourcev1.DeviceTaintEffect(rule.Spec.Taint.Effect),
					TimeAdded: rule.Spec.Taint.TimeAdded,
				}
				if patched == slice {
					patched = slice.DeepCopy()
				}
				patched.Spec.Devices[i].Taints = append(patched.Spec.Devices[i].Taints, taint)
			}
		}
		out = append(out, patched)
	}
	return out
}

// allocatedState: GatherAllocatedState (consumable capacity on) or ListAllAllocatedDevices (off).
func (c *cluster) allocatedState(consumable bool) structured.AllocatedState {
	state := structured.AllocatedState{
		AllocatedDevices:         sets.New[structured.DeviceID](),
		AllocatedSharedDeviceIDs: sets.New[structured.SharedDeviceID](),
		AggregatedCapacity:       structured.NewConsumedCapacityCollection(),
	}
	for _, claim := range c.claimList {
		if claim.Status.Allocation == nil {
			continue
		}
		for _, result := range claim.Status.Allocation.Devices.Results {
			if ptr.Deref(result.AdminAccess, false) {
				continue
			}
			id := structured.MakeDeviceID(result.Driver, result.Pool, result.Device)
			if consumable && result.ShareID != nil {
				state.AllocatedSharedDeviceIDs.Insert(structured.MakeSharedDeviceID(id, result.ShareID))
				if result.ConsumedCapacity != nil {
					state.AggregatedCapacity.Insert(structured.NewDeviceConsumedCapacity(id, result.ConsumedCapacity))
				}
				continue
			}
			state.AllocatedDevices.Insert(id)
		}
	}
	return state
}

// ------------------------------------------------------------------ what to allocate

type podClaim struct {
	ref   string
	claim *resourcev1.ResourceClaim
}

// resolve: the claims of the simulated pod, in the pod's order (claims for templates that the
// resourceclaim controller has not created yet are made from the template as it would).
func (c *cluster) resolve(targets []string) ([]podClaim, *corev1.Pod, *allocStatus) {
	var out []podClaim
	var pod *corev1.Pod
	fromTemplate := func(t *resourcev1.ResourceClaimTemplate, name string) *resourcev1.ResourceClaim {
		return &resourcev1.ResourceClaim{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: t.Namespace, UID: ktypesUID("uid-generated-" + t.Namespace + "/" + name),
				Labels: t.Spec.Labels, Annotations: t.Spec.Annotations},
			Spec: *t.Spec.Spec.DeepCopy(),
		}
	}
	for _, target := range targets {
		parts := strings.Split(target, "/")
		kind := "claim"
		if len(parts) == 3 {
			kind, parts = parts[0], parts[1:]
		}
		if len(parts) != 2 {
			return nil, nil, &allocStatus{"Error", fmt.Sprintf("cannot read target %q", target)}
		}
		key := parts[0] + "/" + parts[1]
		switch strings.ToLower(kind) {
		case "claim", "resourceclaim":
			claim := c.claims[key]
			if claim == nil {
				return nil, nil, &allocStatus{"Unschedulable", fmt.Sprintf("resourceclaim %q not found", key)}
			}
			out = append(out, podClaim{key, claim})
		case "template", "resourceclaimtemplate":
			t := c.templates[key]
			if t == nil {
				return nil, nil, &allocStatus{"Unschedulable", fmt.Sprintf("resourceclaimtemplate %q not found", key)}
			}
			out = append(out, podClaim{key, fromTemplate(t, t.Name)})
		case "pod":
			pod = c.pods[key]
			if pod == nil {
				return nil, nil, &allocStatus{"Error", fmt.Sprintf("pod %q not found", key)}
			}
			for _, pc := range pod.Spec.ResourceClaims {
				if pc.ResourceClaimName != nil {
					ref := pod.Namespace + "/" + *pc.ResourceClaimName
					claim := c.claims[ref]
					if claim == nil {
						// PreFilter: foreachPodResourceClaim -> not found
						return nil, nil, &allocStatus{"Unschedulable", fmt.Sprintf("resourceclaim %q not found", ref)}
					}
					out = append(out, podClaim{ref, claim})
					continue
				}
				if pc.ResourceClaimTemplateName == nil {
					continue
				}
				generated := ""
				for _, st := range pod.Status.ResourceClaimStatuses {
					if st.Name == pc.Name && st.ResourceClaimName != nil {
						generated = *st.ResourceClaimName
					}
				}
				if generated != "" {
					ref := pod.Namespace + "/" + generated
					if claim := c.claims[ref]; claim != nil {
						out = append(out, podClaim{ref, claim})
						continue
					}
				}
				t := c.templates[pod.Namespace+"/"+*pc.ResourceClaimTemplateName]
				if t == nil {
					return nil, nil, &allocStatus{"Unschedulable", fmt.Sprintf("resourceclaimtemplate %s/%s not found", pod.Namespace, *pc.ResourceClaimTemplateName)}
				}
				name := generated
				if name == "" {
					name = pod.Name + "-" + pc.Name
				}
				out = append(out, podClaim{pod.Namespace + "/" + name, fromTemplate(t, name)})
			}
		default:
			return nil, nil, &allocStatus{"Error", fmt.Sprintf("cannot read target %q", target)}
		}
	}
	return out, pod, nil
}

func targetsOf(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		out := make([]string, 0, len(t))
		for _, x := range t {
			out = append(out, fmt.Sprint(x))
		}
		return out
	}
	return nil
}

// ------------------------------------------------------------------ the case

func allocCase(line json.RawMessage) any {
	var in allocInput
	if err := json.Unmarshal(line, &in); err != nil {
		return allocOutput{CaseError: "read case: " + err.Error()}
	}
	out := allocOutput{ID: in.ID, Nodes: []allocNode{}}
	gs, err := gatesFor(in.Gates)
	if err != nil {
		out.CaseError = "feature gates: " + err.Error()
		return out
	}
	out.Features = dynamicresources.AllocatorFeatures(gs.fts)
	if len(in.AllocatorFeatures) > 0 {
		raw, _ := json.Marshal(out.Features)
		merged := map[string]bool{}
		_ = json.Unmarshal(raw, &merged)
		for k, v := range in.AllocatorFeatures {
			if _, ok := merged[k]; !ok {
				out.CaseError = fmt.Sprintf("unknown allocator feature %q", k)
				return out
			}
			merged[k] = v
		}
		raw, _ = json.Marshal(merged)
		_ = json.Unmarshal(raw, &out.Features)
	}
	c, err := readCluster(in.Objects)
	if err != nil {
		out.CaseError = err.Error()
		return out
	}
	out.Invalid = c.invalid
	claims, pod, status := c.resolve(targetsOf(in.Simulate))
	if status != nil {
		out.Prefilter = status
		return out
	}

	// PreFilter (dynamicresources.go): allocated claims must be usable by this pod, classes of
	// the claims to allocate must exist.
	availableOn := make([]*nodeaffinity.NodeSelector, len(claims))
	var toAllocate []*resourcev1.ResourceClaim
	var toAllocateRefs []string
	for i, pc := range claims {
		claim := pc.claim
		if claim.Status.Allocation != nil {
			if pod != nil && !resourceclaim.CanBeReserved(claim) && !resourceclaim.IsReservedForPod(pod, claim, gs.fts.EnableDRAWorkloadResourceClaims) {
				out.Prefilter = &allocStatus{"Unschedulable", "resourceclaim in use"}
				return out
			}
			if claim.Status.Allocation.NodeSelector != nil {
				ns, err := nodeaffinity.NewNodeSelector(claim.Status.Allocation.NodeSelector)
				if err != nil {
					out.Prefilter = &allocStatus{"Error", err.Error()}
					return out
				}
				availableOn[i] = ns
			}
			continue
		}
		for _, request := range claim.Spec.Devices.Requests {
			switch {
			case request.Exactly != nil:
				if st := validateDeviceClass(c, request.Exactly.DeviceClassName, request.Name); st != nil {
					out.Prefilter = st
					return out
				}
			case len(request.FirstAvailable) > 0:
				if !gs.fts.EnableDRAPrioritizedList {
					out.Prefilter = &allocStatus{"Unschedulable", fmt.Sprintf("resource claim %s, request %s: has subrequests, but the DRAPrioritizedList feature is disabled", pc.ref, request.Name)}
					return out
				}
				for _, sub := range request.FirstAvailable {
					if st := validateDeviceClass(c, sub.DeviceClassName, request.Name+"/"+sub.Name); st != nil {
						out.Prefilter = st
						return out
					}
				}
			default:
				out.Prefilter = &allocStatus{"Unschedulable", fmt.Sprintf("resource claim %s, request %s: unknown request type", pc.ref, request.Name)}
				return out
			}
		}
		toAllocate = append(toAllocate, claim)
		toAllocateRefs = append(toAllocateRefs, pc.ref)
	}

	var allocator structured.Allocator
	if len(toAllocate) > 0 {
		state := c.allocatedState(gs.fts.EnableDRAConsumableCapacity)
		allocator, err = structured.NewAllocator(context.Background(), out.Features, state,
			classLister{c.classes}, c.patchedSlices(gs.taints && gs.fts.EnableDRADeviceTaints), gs.celCache)
		if err != nil {
			out.Prefilter = &allocStatus{"Error", err.Error()}
			return out
		}
	}

	names := in.Nodes
	if names == nil && pod != nil && pod.Spec.NodeName != "" {
		// a bound pod is never scheduled again: only its node can answer for it
		names = []string{pod.Spec.NodeName}
	}
	if names == nil {
		for name := range c.nodes {
			names = append(names, name)
		}
		sort.Strings(names)
	}
	timeout := time.Duration(in.TimeoutSeconds * float64(time.Second))
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	for _, name := range names {
		node := c.nodes[name]
		if node == nil {
			node = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
		}
		out.Nodes = append(out.Nodes, filterNode(allocator, node, claims, availableOn, toAllocate, toAllocateRefs, timeout))
	}
	return out
}

func validateDeviceClass(c *cluster, className, requestName string) *allocStatus {
	if className == "" {
		return &allocStatus{"Error", fmt.Sprintf("request %s: unsupported request type", requestName)}
	}
	if _, ok := c.classes[className]; !ok {
		return &allocStatus{"Unschedulable", fmt.Sprintf("request %s: device class %s does not exist", requestName, className)}
	}
	return nil
}

// filterNode: the plugin's Filter for one node.
func filterNode(allocator structured.Allocator, node *corev1.Node, claims []podClaim, availableOn []*nodeaffinity.NodeSelector,
	toAllocate []*resourcev1.ResourceClaim, refs []string, timeout time.Duration) (res allocNode) {
	res = allocNode{Name: node.Name, Status: "Success", Results: []allocDevice{}}
	defer func() {
		if r := recover(); r != nil {
			res = allocNode{Name: node.Name, Status: "Panic", Message: fmt.Sprint(r), Results: []allocDevice{}}
		}
	}()
	for i := range claims {
		if availableOn[i] != nil && !availableOn[i].Match(node) {
			res.Status, res.Message = "Unschedulable", "resourceclaim not available on the node"
			return res
		}
	}
	if allocator == nil {
		res.Allocatable = true
		return res
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	results, err := allocator.Allocate(ctx, node, toAllocate)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		res.Status, res.Message = "Error", fmt.Sprintf("node %s: timed out trying to allocate devices", node.Name)
		return res
	case errors.Is(err, structured.ErrFailedAllocationOnNode):
		res.Status, res.Message = "Unschedulable", err.Error()
		return res
	case err != nil:
		res.Status, res.Message = "Error", err.Error()
		return res
	}
	if len(results) != len(toAllocate) {
		res.Status, res.Message = "Unschedulable", "cannot allocate all claims"
		return res
	}
	res.Allocatable = true
	for i, alloc := range results {
		for _, r := range alloc.Devices.Results {
			d := allocDevice{Claim: refs[i], Request: r.Request, Driver: r.Driver, Pool: r.Pool, Device: r.Device,
				AdminAccess: ptr.Deref(r.AdminAccess, false), Shared: r.ShareID != nil}
			if len(r.ConsumedCapacity) > 0 {
				d.ConsumedCapacity = map[string]string{}
				for k, q := range r.ConsumedCapacity {
					d.ConsumedCapacity[string(k)] = q.String()
				}
			}
			res.Results = append(res.Results, d)
		}
	}
	return res
}
