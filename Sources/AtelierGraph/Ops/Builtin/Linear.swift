import AtelierDevices

/// GEMM: x [m, k] w [k, n] with optional transposes (Dense layers).
/// Shape rules, gradient rules and how the planner runs them, in one place
/// (the other families are beside this file; OpRules says how they are used).
enum LinearOps: OpRules {
    static func outputShapes(_ op: GraphOp, _ c: ShapeCheck) throws -> [Shape] {
        let inputs = c.inputs
        func fail(_ why: String) -> ShapeError { c.fail(why) }
        func expectCount(_ n: Int) throws { try c.expectCount(n) }
        switch op {
        case .matmul(let ta, let tb):
            try expectCount(2)
            guard inputs[0].rank == 2, inputs[1].rank == 2 else { throw fail("both operands must be 2-D") }
            let (m, k) = ta ? (inputs[0][1], inputs[0][0]) : (inputs[0][0], inputs[0][1])
            let (k2, n) = tb ? (inputs[1][1], inputs[1][0]) : (inputs[1][0], inputs[1][1])
            guard k == k2 else { throw fail("inner dimensions \(k) and \(k2) differ") }
            return [[m, n]]
        default: preconditionFailure("\(op) is not a \(Self.self) op")
        }
    }

    static func gradient(_ op: GraphOp, _ s: GradientStep) throws {
        let (graph, node, x) = (s.graph, s.node, s.x)
        func dyTensor() throws -> Tensor { try s.dyTensor() }
        func relevant(_ id: Int) -> Bool { s.relevant(id) }
        func accumulate(_ id: Int, _ g: GradientValue) throws { try s.accumulate(id, g) }
        switch op {
        case .matmul(let ta, let tb):
            let g = try dyTensor()
            let out = graph.shapes[node.outputs[0]]
            let shape = GemmShape(m: out[0], n: out[1], k: ta ? x[0].shape[0] : x[0].shape[1], transposeA: ta, transposeB: tb)
            if relevant(x[0].id) {
                let (s, dcFirst) = shape.gradientA()
                let da = try graph(.matmul(transposeA: s.transposeA, transposeB: s.transposeB), dcFirst ? g : x[1], dcFirst ? x[1] : g)
                try accumulate(x[0].id, .tensor(da.id))
            }
            if relevant(x[1].id) {
                let (s, dcFirst) = shape.gradientB()
                let db = try graph(.matmul(transposeA: s.transposeA, transposeB: s.transposeB), dcFirst ? g : x[0], dcFirst ? x[0] : g)
                try accumulate(x[1].id, .tensor(db.id))
            }
        default: preconditionFailure("\(op) is not a \(Self.self) op")
        }
    }

    static func compute(_ op: GraphOp, inShapes: [Shape], outShape: Shape) throws -> Plan.Compute? {
        switch op {
        case .matmul(let ta, let tb):
            return .gemm(GemmShape(m: outShape[0], n: outShape[1], k: ta ? inShapes[0][0] : inShapes[0][1],
                                   transposeA: ta, transposeB: tb))
        default: return nil
        }
    }
}
