import AtelierDevices
import Foundation

/// A graph made ready to run on one backend: kernels in order, every value
/// given a buffer (values whose lifetimes do not overlap share one), and
/// every op's arguments bound once. `run()` enqueues the whole step without
/// waiting; only `read` waits.
public final class Plan {
    public let backend: Backend
    private let graph: Graph
    private(set) var buffers: [Int: DeviceBuffer] = [:]
    /// One per graph node; nil for nodes a fusion absorbed (their work runs
    /// in the fusion's head).
    private var steps: [(() throws -> Void)?] = []
    private var costs: [OpCost] = []
    private var names: [String] = []
    private var fusions: [Fusion] = []
    /// Distinct storage objects the plan allocated for computed values.
    public private(set) var slotCount = 0

    /// Plans `graph` on `backend`: fuses ops, orders the launches and gives
    /// each value a buffer, reusing storage once a value is dead.
    ///
    /// - Parameters:
    ///   - graph: the computation.
    ///   - backend: the device that runs it.
    ///   - keep: values read after the run (losses, generated images,
    ///     gradients); they get buffers nothing else reuses.
    ///   - bindings: buffers supplied by the caller for some values: inputs
    ///     shared with another plan, gradients written straight into an
    ///     optimizer's flat buffer.
    public init(_ graph: Graph, on backend: Backend, keep: [Tensor] = [], bindings: [Tensor: DeviceBuffer] = [:]) throws {
        self.graph = graph
        self.backend = backend
        let pinned = Set(keep.map(\.id)).union(bindings.keys.map(\.id))
        fusions = Fusion.find(in: graph, pinned: pinned)
        try assignBuffers(keep: Set(keep.map(\.id)), bindings: bindings)
        let absorbed = Set(fusions.flatMap(\.absorbed))
        // The node whose step each fusion replaces: its head, or for an
        // accumulation the second weight gradient (the first runs as it is,
        // into the sum's buffer).
        let replaced = Dictionary(uniqueKeysWithValues: fusions.map { ($0.kind == .accumulate ? $0.accumulatorNode! : $0.head, $0) })
        for (index, node) in graph.nodes.enumerated() {
            let (step, cost) = try bind(node)
            if let fusion = replaced[index] {
                steps.append(fusion.kind == .accumulate ? try bindAccumulating(fusion) : try bindFused(fusion))
                names.append(fusion.name(in: graph))
            } else {
                steps.append(absorbed.contains(index) ? nil : step)
                names.append(node.op.profileName)
            }
            costs.append(cost)
        }
    }

    /// Enqueues every op of the step.
    public func run() throws {
        for step in steps { try step?() }
    }

    /// Enqueues the ops of the nodes in `range` (graph node indices), so a
    /// caller can put other work between parts of one graph.
    public func run(nodes range: Range<Int>) throws {
        if let split = fusions.first(where: { range.lowerBound > $0.span.lowerBound && range.lowerBound <= $0.span.upperBound
                                                || range.upperBound > $0.span.lowerBound && range.upperBound <= $0.span.upperBound }) {
            throw ShapeError("plan range \(range) splits the fused nodes \(split.span)")
        }
        guard let profiler else {
            for step in steps[range] { try step?() }
            return
        }
        for index in range {
            guard let step = steps[index] else { continue }
            try profiler.measure(profiler.byNode ? "\(names[index]) #\(index)" : names[index], cost: costs[index],
                                 on: backend, step)
        }
    }

    /// When set, every op waits for the device and its time is added here
    /// (for profiles; it serialises the step).
    public var profiler: OpProfiler?

    public var nodeCount: Int { steps.count }

    /// Values a fusion never writes, with the fused output whose buffer they share.
    var fusedAliases: [Int: Int] {
        Dictionary(uniqueKeysWithValues: fusions.flatMap { f in f.skipped.map { ($0, f.output) } })
    }

    /// The fused steps, as "head...last" node ranges with their names (for tests and profiles).
    var fusedNodes: [(ClosedRange<Int>, String)] { fusions.map { ($0.span, $0.name(in: graph)) } }

    /// The buffer of a value (write inputs into it, read results from it).
    public func buffer(_ t: Tensor) throws -> DeviceBuffer {
        guard let b = buffers[t.id] else {
            throw ShapeError("\(t) has no buffer after planning; pass it in `keep` to read it after a run")
        }
        return b
    }

    /// Copies a value to the host (waits for the step to reach it).
    public func read(_ t: Tensor) throws -> [Float] {
        try backend.read(try buffer(t))
    }

    public func write(_ values: [Float], to t: Tensor) throws {
        try backend.write(values, to: try buffer(t))
    }

    // MARK: Buffers by liveness

    private func assignBuffers(keep: Set<Int>, bindings: [Tensor: DeviceBuffer]) throws {
        let shapes = graph.shapes
        for (t, b) in bindings {
            guard t.id < shapes.count, shapes[t.id] == t.shape else { throw ShapeError("binding for \(t): not a tensor of this graph") }
            try ShapeError.expect(b, count: t.shape.count, "buffer bound to \(t)")
            buffers[t.id] = b
        }
        // Sources: parameters are theirs, inputs and constants get their own.
        for (id, source) in graph.sources.enumerated() where buffers[id] == nil {
            switch source {
            case .parameter(let p): buffers[id] = try p.bound()
            case .input: buffers[id] = try backend.buffer(count: max(shapes[id].count, 1))
            case .constant(let v):
                let b = try backend.buffer(count: max(shapes[id].count, 1))
                try backend.fill(b, with: v)
                buffers[id] = b
            case .computed: break
            }
        }

        // A reshape's output is its input's buffer, and a fusion's skipped
        // values share its output's: track lifetimes per root.
        var root = Array(0..<shapes.count)
        for fusion in fusions {
            for skipped in fusion.skipped { root[skipped] = fusion.output }
        }
        for node in graph.nodes {
            if case .reshape = node.op { root[node.outputs[0]] = root[node.inputs[0]] }
        }
        var lastUse = [Int](repeating: -1, count: shapes.count)
        for (index, node) in graph.nodes.enumerated() {
            for i in node.inputs { lastUse[root[i]] = max(lastUse[root[i]], index) }
            for o in node.outputs { lastUse[root[o]] = max(lastUse[root[o]], index) }
        }
        // A normalisation's fused gradient runs at the BatchNorm gradient's
        // place and reads what the activation gradient it absorbed read.
        for fusion in fusions where fusion.kind == .normActivationGradient {
            for v in graph.nodes[fusion.activationNode!].inputs { lastUse[root[v]] = max(lastUse[root[v]], fusion.head) }
        }
        for id in keep { lastUse[root[id]] = Int.max }
        for id in buffers.keys { lastUse[root[id]] = Int.max }  // bound values are never recycled

        var free: [Int: [BufferStorage]] = [:]  // capacity -> storage
        var storageOfRoot: [Int: BufferStorage] = [:]
        for (index, node) in graph.nodes.enumerated() {
            for o in node.outputs {
                if buffers[o] != nil { continue }
                let r = root[o]
                if r != o, let base = buffers[r] {
                    buffers[o] = DeviceBuffer(count: shapes[o].count, storage: base.storage, pool: nil)
                    continue
                }
                // A new root: `o` itself, or (for a value a fusion skips) the
                // fusion's output, which then exists from here on.
                let count = max(shapes[r].count, 1)
                let capacity = BufferPool.capacity(for: count)
                let storage: BufferStorage
                if let reused = free[capacity]?.popLast() {
                    storage = reused
                } else {
                    // Pooled, and held by the plan for its lifetime.
                    let owned = try backend.buffer(count: capacity)
                    slotBuffers.append(owned)
                    storage = owned.storage
                    slotCount += 1
                }
                storageOfRoot[r] = storage
                buffers[r] = DeviceBuffer(count: count, storage: storage, pool: nil)
                if r != o { buffers[o] = DeviceBuffer(count: shapes[o].count, storage: storage, pool: nil) }
            }
            // Values whose last use is this node free their storage now, after
            // its outputs were placed: an op never writes over its own input.
            for id in Set(node.inputs + node.outputs) where root[id] == id && lastUse[id] == index {
                if let storage = storageOfRoot.removeValue(forKey: id) {
                    free[storage.capacity, default: []].append(storage)
                }
            }
        }
    }

    /// The buffers behind the slots, kept for the plan's lifetime.
    private var slotBuffers: [DeviceBuffer] = []

    // MARK: Binding ops to buffers

    /// A GEMM or convolution node's work, from its op and shapes: one place
    /// for its launches (plain, fused or accumulating) and its cost.
    enum Compute {
        case gemm(GemmShape)
        case convolution(ConvGeometry)          // y = conv(x, w)
        case convolutionData(ConvGeometry)      // dx from dy and w: conv2d's data gradient, convTranspose2d
        case convolutionWeights(ConvGeometry)   // dw from x and dy

        var flops: Double {
            switch self {
            case .gemm(let s): s.flops
            case .convolution(let g), .convolutionData(let g), .convolutionWeights(let g): g.flops
            }
        }

        /// The arithmetic `backend` performs for it (Backend.performedFlops).
        func performedFlops(on backend: Backend) -> Double {
            switch self {
            case .gemm(let s): s.flops
            case .convolution(let g): backend.performedFlops(g, pass: .forward)
            case .convolutionData(let g): backend.performedFlops(g, pass: .backwardData)
            case .convolutionWeights(let g): backend.performedFlops(g, pass: .backwardWeights)
            }
        }
    }

    private func compute(_ node: Graph.Node) throws -> Compute? {
        let inShapes = node.inputs.map { graph.shapes[$0] }
        let outShape = graph.shapes[node.outputs[0]]
        return try node.op.rules.compute(node.op, inShapes: inShapes, outShape: outShape)
    }

    /// The buffers of `ids`, which must all have one.
    private func buffers(_ ids: [Int], of node: Graph.Node) throws -> [DeviceBuffer] {
        try ids.map { id in
            guard let buf = buffers[id] else { throw ShapeError("no buffer for %\(id) of \(node.op)") }
            return buf
        }
    }

    /// A GEMM or convolution node's launch into `output`, with an epilogue,
    /// or adding to what `output` holds (`accumulate`: GEMM beta 1).
    private func bindCompute(_ node: Graph.Node, output: DeviceBuffer, epilogue: Epilogue? = nil,
                             accumulate: Bool = false) throws -> () throws -> Void {
        let b = backend
        let x = try buffers(node.inputs, of: node)
        guard let work = try compute(node) else { throw ShapeError("\(node.op) is not a GEMM or convolution") }
        guard !accumulate || epilogue == nil else { throw ShapeError("\(node.op): an accumulating launch takes no epilogue") }
        switch work {
        case .gemm(var s):
            if accumulate { s.beta = 1 }
            return { try b.gemm(s, a: x[0], b: x[1], c: output, epilogue: epilogue) }
        case .convolution(let g):
            guard !accumulate else { break }
            return { try b.convolutionForward(g, input: x[0], weight: x[1], output: output, epilogue: epilogue) }
        case .convolutionData(let g):
            guard !accumulate else { break }
            return { try b.convolutionBackwardData(g, outputGradient: x[0], weight: x[1], inputGradient: output, epilogue: epilogue) }
        case .convolutionWeights(let g):
            guard epilogue == nil else { break }
            return { try b.convolutionBackwardWeights(g, input: x[0], outputGradient: x[1], weightGradient: output, accumulate: accumulate) }
        }
        throw ShapeError("\(node.op) cannot \(accumulate ? "accumulate into a sum" : "take an epilogue")")
    }

    /// The head's GEMM or convolution writing the fusion's output, with the
    /// absorbed bias and activation (or activation gradient) as its epilogue.
    private func bindFused(_ fusion: Fusion) throws -> () throws -> Void {
        let node = graph.nodes[fusion.head]
        let output = try buffers([fusion.output], of: node)[0]
        let b = backend
        let act = fusion.activation(in: graph)
        /// A normalisation's (N, C, inner), from its input x.
        func normLayout() throws -> ChannelLayout {
            guard let layout = graph.shapes[node.inputs[0]].channelLayout else { throw ShapeError("a fused BatchNorm on a 1-D input") }
            return layout
        }
        let epilogue: Epilogue
        switch fusion.kind {
        case .normActivation:
            guard case .batchNorm(let momentum, let epsilon, let training, _) = node.op else { throw ShapeError("a fused BatchNorm without its node") }
            let x = try buffers(node.inputs, of: node), y = try buffers(node.outputs, of: node), layout = try normLayout()
            let state = BatchNormState(gamma: x[1], beta: x[2], runningMean: x[3], runningVar: x[4], momentum: momentum, epsilon: epsilon)
            if training {
                return {
                    try b.batchNormForwardTraining(layout: layout, input: x[0], state: state, activation: act, output: output,
                                                   saved: BatchNormSaved(mean: y[1], invStd: y[2]))
                }
            }
            return { try b.batchNormForwardInference(layout: layout, input: x[0], state: state, activation: act, output: output) }
        case .normActivationGradient:
            let gradient = graph.nodes[fusion.activationNode!], norm = graph.nodes[fusion.normNode!]
            let x = try buffers(node.inputs, of: node), y = try buffers(node.outputs, of: node), layout = try normLayout()
            let (z, dz) = (try buffers([gradient.inputs[0]], of: gradient)[0], try buffers([gradient.inputs[1]], of: gradient)[0])
            let beta = try buffers([norm.inputs[2]], of: norm)[0]
            return {
                try b.batchNormBackward(layout: layout, input: x[0], outputGradient: dz, gamma: x[2],
                                        saved: BatchNormSaved(mean: x[3], invStd: x[4]), activation: act, activated: z, beta: beta,
                                        inputGradient: y[0], gammaGradient: y[1], betaGradient: y[2])
            }
        case .forward:
            let bias = try fusion.biasNode.map { try buffers([graph.nodes[$0].inputs[1]], of: graph.nodes[$0])[0] }
            epilogue = Epilogue(bias: bias, activation: fusion.activation(in: graph))
        case .gradient:
            guard let index = fusion.activationNode else { throw ShapeError("a fused gradient without its activation") }
            let activated = try buffers([graph.nodes[index].inputs[0]], of: graph.nodes[index])[0]
            epilogue = .gradient(through: fusion.activation(in: graph), activated: activated)
        case .accumulate, .normActivation, .normActivationGradient:
            throw ShapeError("an accumulation has no epilogue")
        }
        return try bindCompute(node, output: output, epilogue: epilogue)
    }

    /// The second weight gradient of a sum, added into the buffer the first
    /// one wrote (both share the sum's buffer).
    private func bindAccumulating(_ fusion: Fusion) throws -> () throws -> Void {
        guard let index = fusion.accumulatorNode else { throw ShapeError("an accumulation without its second gradient") }
        let node = graph.nodes[index]
        return try bindCompute(node, output: try buffers([fusion.output], of: node)[0], accumulate: true)
    }

    /// The op's launches with their buffers bound, and what it costs.
    private func bind(_ node: Graph.Node) throws -> (() throws -> Void, OpCost) {
        let step = try bindLaunches(node)
        if let work = try compute(node) { return (step, OpCost(flops: work.flops, performedFlops: work.performedFlops(on: backend))) }
        if case .reshape = node.op { return (step, OpCost()) }
        return (step, OpCost.memory((node.inputs + node.outputs).map { graph.shapes[$0] }))
    }

    private func bindLaunches(_ node: Graph.Node) throws -> () throws -> Void {
        let b = backend
        let x = try buffers(node.inputs, of: node)
        let y = try buffers(node.outputs, of: node)
        if try compute(node) != nil { return try bindCompute(node, output: y[0]) }
        let inShapes = node.inputs.map { graph.shapes[$0] }
        let outShape = graph.shapes[node.outputs[0]]
        return try node.op.rules.launches(node.op, LaunchStep(backend: b, x: x, y: y, inShapes: inShapes, outShape: outShape))
    }
}


extension GraphOp {
    /// The op without its shapes, for profiles.
    var profileName: String {
        switch self {
        case .matmul: "matmul"
        case .conv2d: "conv2d"
        case .convTranspose2d: "conv_transpose2d"
        case .conv2dBackwardData: "conv2d grad data"
        case .conv2dBackwardWeights: "conv2d grad weights"
        case .batchNorm(_, _, _, let act): act == .identity ? "batch_norm" : "batch_norm + \(act)"
        case .reshape: "reshape"
        case .sliceChannels: "slice"
        default: description
        }
    }
}
