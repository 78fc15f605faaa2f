import Foundation
import Testing
@testable import Atelier
@testable import AtelierDevices
@testable import AtelierGraph
@testable import AtelierModels
@testable import AtelierTraining

/// Autodiff against finite differences on composite graphs, pruning, and
/// the planner's buffer sharing.
struct GraphTests {
    /// A small network touching every forward op: conv, bias, BatchNorm,
    /// LeakyReLU, reshape, concat, dense, transposed conv, tanh, sigmoid and
    /// two losses summed.
    struct Net {
        let graph = Graph()
        let params: [Parameter]
        let x: Tensor
        let loss: Tensor
        let extras: [Parameter]

        /// `fused`: BatchNorm and the LeakyReLU after it as one op.
        init(batch: Int = 2, fused: Bool = false) throws {
            func p(_ name: String, _ shape: Shape, seed: UInt64, scale: Float = 0.5) -> Parameter {
                Parameter(name: name, shape: shape, initial: randomValues(shape.count, seed: seed).map { $0 * scale })
            }
            let w1 = p("w1", [4, 3, 3, 3], seed: 1), b1 = p("b1", [4], seed: 2)
            let gamma = Parameter(name: "gamma", shape: [4], initial: randomValues(4, seed: 3, in: 0.5...1.5))
            let beta = p("beta", [4], seed: 4)
            let rm = Parameter(name: "rm", shape: [4], trainable: false, initial: [0, 0, 0, 0])
            let rv = Parameter(name: "rv", shape: [4], trainable: false, initial: [1, 1, 1, 1])
            let w2 = p("w2", [5, 36 + 72], seed: 5), b2 = p("b2", [5], seed: 6)
            let wt = p("wt", [4, 2, 4, 4], seed: 7)
            let g = graph
            x = g.input("x", [batch, 3, 6, 6])
            var h = try g(.conv2d(stride: 2, padding: 1), x, g.parameter(w1))                   // [B,4,3,3]
            h = try g(.biasAdd, h, g.parameter(b1))
            let leaky = Activation.leakyRelu(slope: 0.2)
            h = try g.apply(.batchNorm(momentum: 0.1, epsilon: 1e-5, training: true, activation: fused ? leaky : .identity),
                            [h, g.parameter(gamma), g.parameter(beta), g.parameter(rm), g.parameter(rv)])[0]
            if !fused { h = try g(.activation(leaky), h) }
            // Transposed conv branch from the same features: [B,4,3,3] -> [B,2,6,6] -> tanh.
            let t = try g(.activation(.tanh), try g(.convTranspose2d(stride: 2, padding: 1), h, g.parameter(wt)))
            let flat = try g(.reshape([batch, 36]), h)
            let side = try g(.reshape([batch, 72]), t)
            let joined = try g.apply(.concatChannels, [flat, side])[0]                             // [B,108]
            var out = try g(.matmul(transposeA: false, transposeB: true), joined, g.parameter(w2)) // [B,5]
            out = try g(.biasAdd, out, g.parameter(b2))
            let prob = try g(.activation(.sigmoid), out)
            let l1 = try g(.loss(.mse), prob, g.constant(0.3, [batch, 5]))
            let l2 = try g(.loss(.bceWithLogits), out, g.constant(1, [batch, 5]))
            loss = try g(.add, l1, l2)
            params = [w1, b1, gamma, beta, w2, b2, wt]
            extras = [rm, rv]
        }
    }

    func gradients(on backend: Backend, input: [Float], fused: Bool = false) throws
        -> (loss: Float, grads: [[Float]], dx: [Float], net: Net, plan: Plan) {
        let net = try Net(fused: fused)
        let group = try ParameterGroup(net.params, on: backend)
        for e in net.extras { try e.place(on: backend) }
        let targets = net.params.map { net.graph.parameter($0) } + [net.x]
        let grads = try net.graph.gradients(of: net.loss, withRespectTo: targets)
        var bindings: [Tensor: DeviceBuffer] = [:]
        for (p, g) in zip(net.params, grads) { bindings[g] = try group.gradient(of: p) }
        let plan = try Plan(net.graph, on: backend, keep: [net.loss, grads.last!], bindings: bindings)
        try plan.write(input, to: net.x)
        try plan.run()
        let loss = try plan.read(net.loss)[0]
        return (loss, try net.params.map { try backend.read(try group.gradient(of: $0)) }, try plan.read(grads.last!), net, plan)
    }

    @Test("Autodiff of a composite graph matches finite differences (CPU path)")
    func finiteDifferences() throws {
        let cpu = CPUBackend()
        let input = randomValues(2 * 3 * 6 * 6, seed: 42)
        let (_, grads, dx, net, plan) = try gradients(on: cpu, input: input)
        func loss() throws -> Double {
            try plan.run()
            return Double(try plan.read(net.loss)[0])
        }
        let h: Float = 1e-2
        for (p, analytic) in zip(net.params, grads) {
            let buffer = try p.bound()
            var values = try cpu.read(buffer)
            for i in Set([0, values.count / 2, values.count - 1]) {
                let original = values[i]
                values[i] = original + h; try cpu.write(values, to: buffer); let plus = try loss()
                values[i] = original - h; try cpu.write(values, to: buffer); let minus = try loss()
                values[i] = original; try cpu.write(values, to: buffer)
                let numeric = (plus - minus) / Double(2 * h)
                #expect(abs(numeric - Double(analytic[i])) <= 2e-2 * max(abs(numeric), 1e-2) + 1e-4,
                        "d loss / d \(p.name)[\(i)]: numeric \(numeric), autodiff \(analytic[i])")
            }
        }
        for i in [0, 17, 100, dx.count - 1] {
            var x = input
            x[i] += h; try plan.write(x, to: net.x); let plus = try loss()
            x[i] -= 2 * h; try plan.write(x, to: net.x); let minus = try loss()
            let numeric = (plus - minus) / Double(2 * h)
            #expect(abs(numeric - Double(dx[i])) <= 2e-2 * max(abs(numeric), 1e-2) + 1e-4,
                    "d loss / d x[\(i)]: numeric \(numeric), autodiff \(dx[i])")
        }
    }

    @Test("BatchNorm and its activation: the fused op and the planner's fusion of the separate ops give the same loss and gradients")
    func fusedBatchNorm() throws {
        let input = randomValues(2 * 3 * 6 * 6, seed: 42)
        let separate = try gradients(on: CPUBackend(), input: input)
        let fused = try gradients(on: CPUBackend(), input: input, fused: true)
        #expect(fused.net.graph.nodes.contains { if case .batchNormBackward(.leakyRelu) = $0.op { true } else { false } })
        #expect(fused.net.graph.nodes.count < separate.net.graph.nodes.count)
        // The separate ops run fused all the same: the planner joins them, forward and backward.
        let names = Set(separate.plan.fusedNodes.map(\.1))
        #expect(names.isSuperset(of: ["batch_norm + leaky_relu(0.2)", "batch_norm + leaky_relu(0.2) grad"]), "\(names)")
        #expect(abs(fused.loss - separate.loss) <= 1e-6, "loss: fused \(fused.loss), separate \(separate.loss)")
        for (i, p) in fused.net.params.enumerated() {
            expectClose(fused.grads[i], separate.grads[i], rtol: 1e-5, atol: 1e-6, "gradient of \(p.name)")
        }
        expectClose(fused.dx, separate.dx, rtol: 1e-5, atol: 1e-6, "gradient of x")
        // Sequential leaves the graph as written; the planner makes the fusion.
        let g = Graph()
        let norm = BatchNorm(4)
        for p in norm.parameters { try p.place(on: CPUBackend()) }
        let y = try Sequential([norm, ActivationLayer(.relu)])(g.input("x", [3, 4]), ForwardContext(graph: g, training: true))
        #expect(g.nodes.map(\.op) == [.batchNorm(momentum: 0.1, epsilon: 1e-5, training: true), .activation(.relu)], "\(g.nodes.map(\.op))")
        #expect(try Plan(g, on: CPUBackend(), keep: [y]).fusedNodes.map(\.1) == ["batch_norm + relu"])
    }

    /// A random parameter already on `backend`, as a tensor of `g`.
    func placedParameter(_ g: Graph, _ shape: Shape, seed: UInt64, on backend: Backend) throws -> Tensor {
        let parameter = Parameter(name: "p\(seed)", shape: shape, initial: randomValues(shape.count, seed: seed))
        try parameter.place(on: backend)
        return g.parameter(parameter)
    }

    @Test("Class planes are broadcast on the device; their gradient is the sum over each plane")
    func broadcastPlanes() throws {
        var backends: [Backend] = [CPUBackend()]
        if OpenCLTestSupport.shouldRun { backends.append(try OpenCLTestSupport.backend()) }
        let (n, c, h, w) = (3, 4, 5, 2)
        let labels = randomValues(n * c, seed: 8), target = randomValues(n * c * h * w, seed: 9)
        // mse = mean((plane - t)^2): d/dv[n, c] = sum over the plane of 2 (v - t) / count.
        let count = Float(n * c * h * w)
        let expectedGradient = (0..<n * c).map { i in
            (0..<h * w).reduce(Float(0)) { $0 + 2 * (labels[i] - target[i * h * w + $1]) / count }
        }
        for backend in backends {
            let g = Graph()
            let x = g.input("labels", [n, c]), t = g.input("target", [n, c, h, w])
            let planes = try g(.broadcastPlanes(height: h, width: w), x)
            #expect(planes.shape == [n, c, h, w])
            let loss = try g(.loss(.mse), planes, t)
            let dx = try g.gradients(of: loss, withRespectTo: [x])[0]
            let plan = try Plan(g, on: backend, keep: [planes, dx])
            try plan.write(labels, to: x)
            try plan.write(target, to: t)
            try plan.run()
            #expect(try plan.read(planes) == labels.flatMap { Array(repeating: $0, count: h * w) }, "planes on \(backend.name)")
            expectClose(try plan.read(dx), expectedGradient, rtol: 1e-4, atol: 1e-6, "plane gradient on \(backend.name)")
        }
        let other = Graph()
        let flat = other.input("x", [2, 2]), image = other.input("image", [2, 2, 3, 3])
        #expect(throws: ShapeError.self) { try other(.broadcastPlanes(height: 0, width: 2), flat) }
        #expect(throws: ShapeError.self) { try other(.broadcastPlanes(height: 3, width: 3), image) }
    }

    @Test("The planner runs a GEMM or convolution with the bias and activation after it as one step")
    func fusedEpilogues() throws {
        var backends: [Backend] = [CPUBackend()]
        if OpenCLTestSupport.shouldRun { backends.append(try OpenCLTestSupport.backend()) }
        for backend in backends {
            let g = Graph()
            func p(_ shape: Shape, _ seed: UInt64) throws -> Tensor { try placedParameter(g, shape, seed: seed, on: backend) }
            let x = g.input("x", [3, 2, 7, 7])
            let conv = try g(.conv2d(stride: 2, padding: 1), x, try p([4, 2, 3, 3], 1))              // [3,4,4,4]
            let biased = try g(.biasAdd, conv, try p([4], 2))
            let act = try g(.activation(.leakyRelu(slope: 0.2)), biased)
            let flat = try g(.reshape([3, 64]), act)
            let dense = try g(.matmul(transposeA: false, transposeB: true), flat, try p([5, 64], 3))   // [3,5]
            let out = try g(.activation(.sigmoid), try g(.biasAdd, dense, try p([5], 4)))
            let fused = try Plan(g, on: backend, keep: [out])
            #expect(fused.fusedNodes.map(\.1) == ["conv2d + bias + leaky_relu(0.2)", "matmul + bias + sigmoid"],
                    "\(fused.fusedNodes)")
            // Keeping the intermediate values pins them: no fusion, the separate ops.
            let separate = try Plan(g, on: backend, keep: [out, conv, biased, dense])
            #expect(separate.fusedNodes.isEmpty)
            let input = randomValues(3 * 2 * 7 * 7, seed: 5)
            var results: [[Float]] = []
            for plan in [fused, separate] {
                try plan.write(input, to: x)
                try plan.run()
                results.append(try plan.read(out))
            }
            expectClose(results[0], results[1], rtol: 1e-5, atol: 1e-6, "fused against separate on \(backend.name)")
            #expect(throws: ShapeError.self) { try fused.run(nodes: 0..<2) }  // a range may not split a fusion
        }
    }

    @Test("The planner runs a data gradient with the activation gradient after it as one step")
    func fusedGradientEpilogues() throws {
        var backends: [Backend] = [CPUBackend()]
        if OpenCLTestSupport.shouldRun { backends.append(try OpenCLTestSupport.backend()) }
        for backend in backends {
            let g = Graph()
            func p(_ shape: Shape, _ seed: UInt64) throws -> Tensor { try placedParameter(g, shape, seed: seed, on: backend) }
            // Two chains whose backward passes put an activation gradient right on a data gradient.
            let x = g.input("x", [3, 2, 9, 9])
            let h = try g(.activation(.leakyRelu(slope: 0.2)), try g(.conv2d(stride: 2, padding: 1), x, try p([4, 2, 3, 3], 1)))
            let y = try g(.conv2d(stride: 1, padding: 1), h, try p([3, 4, 3, 3], 2))                          // [3,3,5,5]
            let z = g.input("z", [3, 6])
            let r = try g(.activation(.relu), try g(.matmul(transposeA: false, transposeB: true), z, try p([7, 6], 3)))
            let q = try g(.matmul(transposeA: false, transposeB: true), r, try p([2, 7], 4))                 // [3,2]
            let loss = try g(.add, try g(.loss(.mse), y, g.constant(0.1, [3, 3, 5, 5])), try g(.loss(.mse), q, g.constant(0.2, [3, 2])))
            let grads = try g.gradients(of: loss, withRespectTo: [x, z])
            let fused = try Plan(g, on: backend, keep: grads)
            #expect(Set(fused.fusedNodes.map(\.1)).isSuperset(of: ["conv2d grad data + leaky_relu(0.2) grad", "matmul + relu grad"]),
                    "\(fused.fusedNodes)")
            // Keeping the data gradients pins them: the separate ops.
            let dataGradients = g.nodes.filter { node in
                g.nodes.contains { if case .activationGradient = $0.op { $0.inputs[1] == node.outputs[0] } else { false } }
            }.map { g.tensor($0.outputs[0]) }
            let separate = try Plan(g, on: backend, keep: grads + dataGradients)
            #expect(!separate.fusedNodes.contains { $0.1.hasSuffix(" grad") })
            let (xs, zs) = (randomValues(3 * 2 * 9 * 9, seed: 5), randomValues(18, seed: 6))
            var results: [[[Float]]] = []
            for plan in [fused, separate] {
                try plan.write(xs, to: x)
                try plan.write(zs, to: z)
                try plan.run()
                results.append(try grads.map { try plan.read($0) })
            }
            for i in grads.indices {
                expectClose(results[0][i], results[1][i], rtol: 1e-5, atol: 1e-7, "gradient \(i), fused against separate on \(backend.name)")
            }
        }
    }

    @Test("A weight used twice: the second gradient adds into the buffer the first wrote")
    func accumulatedGradients() throws {
        var backends: [Backend] = [CPUBackend()]
        if OpenCLTestSupport.shouldRun { backends.append(try OpenCLTestSupport.backend()) }
        for backend in backends {
            let g = Graph()
            // As D on real and on fake images: the same dense and conv weights on two inputs.
            let (w, k) = (try placedParameter(g, [5, 6], seed: 1, on: backend), try placedParameter(g, [3, 2, 3, 3], seed: 2, on: backend))
            let (a, b) = (g.input("a", [4, 6]), g.input("b", [4, 6]))
            let (u, v) = (g.input("u", [2, 2, 7, 7]), g.input("v", [2, 2, 7, 7]))
            func branch(_ x: Tensor, _ y: Tensor) throws -> Tensor {
                let dense = try g(.loss(.mse), try g(.matmul(transposeA: false, transposeB: true), x, w), g.constant(0.3, [4, 5]))
                let conv = try g(.loss(.mse), try g(.conv2d(stride: 2, padding: 1), y, k), g.constant(0.1, [2, 3, 4, 4]))
                return try g(.add, dense, conv)
            }
            let loss = try g(.add, try branch(a, u), try branch(b, v))
            let grads = try g.gradients(of: loss, withRespectTo: [w, k])
            let fused = try Plan(g, on: backend, keep: grads)
            #expect(Set(fused.fusedNodes.map(\.1)) == ["matmul, accumulating", "conv2d grad weights, accumulating"], "\(fused.fusedNodes)")
            // Keeping the two terms of each sum pins them: the separate ops and the adds.
            let gradientIDs = Set(grads.map(\.id))
            let terms = g.nodes.filter { node in
                if case .add = node.op { gradientIDs.contains(node.outputs[0]) } else { false }
            }.flatMap(\.inputs).map { g.tensor($0) }
            let separate = try Plan(g, on: backend, keep: grads + terms)
            #expect(separate.fusedNodes.isEmpty, "\(separate.fusedNodes)")
            var results: [[[Float]]] = []
            for plan in [fused, separate] {
                for (t, seed) in [(a, 3), (b, 4), (u, 5), (v, 6)] as [(Tensor, UInt64)] {
                    try plan.write(randomValues(t.shape.count, seed: seed), to: t)
                }
                try plan.run()
                try plan.run()  // twice: the first gradient must overwrite, not add to the last run's sum
                results.append(try grads.map { try plan.read($0) })
            }
            for i in grads.indices {
                expectClose(results[0][i], results[1][i], rtol: 1e-5, atol: 1e-6, "gradient \(i) on \(backend.name)")
            }
        }
    }

    @Test("The same plan gives the same loss and gradients on OpenCL as on the CPU path", .requiresOpenCL)
    func openCLMatchesCPU() throws {
        let input = randomValues(2 * 3 * 6 * 6, seed: 42)
        let cpu = try gradients(on: CPUBackend(), input: input)
        let cl = try gradients(on: try OpenCLTestSupport.backend(), input: input)
        #expect(abs(cpu.loss - cl.loss) <= 1e-5 * max(1, abs(cpu.loss)), "loss: CPU \(cpu.loss), OpenCL \(cl.loss)")
        for (i, p) in cpu.net.params.enumerated() {
            expectClose(cl.grads[i], cpu.grads[i], rtol: 1e-3, atol: 1e-5, "gradient of \(p.name)")
        }
        expectClose(cl.dx, cpu.dx, rtol: 1e-3, atol: 1e-5, "gradient of x")
    }

    @Test("Gradients are pruned: no work for what the loss does not need")
    func pruning() throws {
        // A two-network chain as in a GAN: z -> G -> fake -> D -> loss.
        let g = Graph()
        let gw = Parameter(name: "G.w", shape: [8, 4], initial: randomValues(32, seed: 1))
        let dw = Parameter(name: "D.w", shape: [1, 8], initial: randomValues(8, seed: 2))
        let z = g.input("z", [3, 4])
        let fake = try g(.activation(.tanh), try g(.matmul(transposeA: false, transposeB: true), z, g.parameter(gw)))
        let logits = try g(.matmul(transposeA: false, transposeB: true), fake, g.parameter(dw))
        let loss = try g(.loss(.bceWithLogits), logits, g.constant(1, [3, 1]))
        let before = g.nodes.count

        // D's step: nothing flows back into G.
        let dGraphGrads = try g.gradients(of: loss, withRespectTo: [g.parameter(dw)])
        let dOps = g.nodes[before...].map(\.op)
        // The loss's gradient is the loss node's second output (one pass), not a node of its own.
        #expect(g.nodes[before - 1].op == .lossWithGradient(.bceWithLogits, weight: 1) && g.nodes[before - 1].outputs.count == 2)
        #expect(dOps.count == 1, "D step should add one GEMM, added \(dOps)")
        #expect(!dOps.contains(.activationGradient(.tanh)), "D step differentiated through G")
        #expect(dGraphGrads[0].shape == [1, 8])

        // G's step: through D, but no gradient for D's weights.
        let g2 = Graph()
        let z2 = g2.input("z", [3, 4])
        let fake2 = try g2(.activation(.tanh), try g2(.matmul(transposeA: false, transposeB: true), z2, g2.parameter(gw)))
        let logits2 = try g2(.matmul(transposeA: false, transposeB: true), fake2, g2.parameter(dw))
        let loss2 = try g2(.loss(.bceWithLogits), logits2, g2.constant(1, [3, 1]))
        let before2 = g2.nodes.count
        let gGrads = try g2.gradients(of: loss2, withRespectTo: [g2.parameter(gw)])
        let added = g2.nodes[before2...]
        let weightShaped = added.filter { node in node.outputs.contains { g2.shapes[$0] == [1, 8] } }
        #expect(weightShaped.isEmpty, "G step computed a gradient shaped like D's weights: \(weightShaped.map(\.op))")
        #expect(added.count == 3, "expected D data grad, tanh grad, G weight grad; got \(added.map(\.op))")
        #expect(gGrads[0].shape == [8, 4])

        #expect(throws: ShapeError.self) { _ = try g2.gradients(of: loss2, withRespectTo: [z2, g2.input("unused", [2])]) }
    }

    @Test("The planner shares buffers only between values whose lifetimes do not overlap", .requiresOpenCL)
    func bufferReuse() throws {
        for backend in [CPUBackend() as Backend, try OpenCLTestSupport.backend()] {
            let net = try Net()
            let group = try ParameterGroup(net.params, on: backend)
            for e in net.extras { try e.place(on: backend) }
            let grads = try net.graph.gradients(of: net.loss, withRespectTo: net.params.map { net.graph.parameter($0) })
            let plan = try Plan(net.graph, on: backend, keep: [net.loss] + grads)
            let graph = net.graph
            let computed = graph.sources.indices.filter { if case .computed = graph.sources[$0] { return true } else { return false } }
            #expect(plan.slotCount < computed.count, "no buffer was shared: \(plan.slotCount) slots for \(computed.count) values")

            // Lifetime of each storage root (a reshape shares its input's
            // buffer, a value a fusion skips its output's): from its first
            // producer to its last reader, or forever if kept.
            var root = Array(0..<graph.shapes.count)
            for (skipped, output) in plan.fusedAliases { root[skipped] = output }
            for node in graph.nodes { if case .reshape = node.op { root[node.outputs[0]] = root[node.inputs[0]] } }
            #expect(!plan.fusedAliases.isEmpty, "the net's conv + bias and dense + bias were not fused")
            var first = [Int: Int](), last = [Int: Int]()
            for (i, node) in graph.nodes.enumerated() {
                for o in node.outputs where first[root[o]] == nil { first[root[o]] = i }
                for v in node.inputs + node.outputs { last[root[v]] = max(last[root[v]] ?? i, i) }
            }
            for t in [net.loss] + grads { last[root[t.id]] = Int.max }
            let roots = computed.filter { root[$0] == $0 }
            for (ai, a) in roots.enumerated() {
                for b in roots[(ai + 1)...] where plan.buffers[a]!.storage === plan.buffers[b]!.storage {
                    #expect(last[a]! < first[b]! || last[b]! < first[a]!,
                            "values %\(a) [\(first[a]!), \(last[a]!)] and %\(b) [\(first[b]!), \(last[b]!)] share a buffer while both live")
                }
            }
            _ = group
        }
    }
}

