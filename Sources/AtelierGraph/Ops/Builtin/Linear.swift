import AtelierDevices

/// GEMM: x [m, k] w [k, n] with optional transposes (Dense layers).
/// Shape rules, gradient rules and how the planner runs them, in one place
/// (the other families are beside this file; OpRules says how they are used).
enum LinearOps: OpRules {
    static func outputShapes(_ op: GraphOp, _ c: ShapeCheck) throws -> [Shape] {
        let inputs = c.inputs
        switch op {
        case .matmul(let ta, let tb):
            try c.expectCount(2)
            guard inputs[0].rank == 2, inputs[1].rank == 2 else { throw c.fail("both operands must be 2-D") }
            let (m, k) = ta ? (inputs[0][1], inputs[0][0]) : (inputs[0][0], inputs[0][1])
            let (k2, n) = tb ? (inputs[1][1], inputs[1][0]) : (inputs[1][0], inputs[1][1])
            guard k == k2 else { throw c.fail("inner dimensions \(k) and \(k2) differ") }
            return [[m, n]]
        default: preconditionFailure("\(op) is not a \(Self.self) op")
        }
    }

    static func gradient(_ op: GraphOp, _ s: GradientStep) throws {
        let (graph, node, x) = (s.graph, s.node, s.x)
        switch op {
        case .matmul(let ta, let tb):
            let g = try s.dyTensor()
            let out = graph.shapes[node.outputs[0]]
            let shape = GemmShape(m: out[0], n: out[1], k: ta ? x[0].shape[0] : x[0].shape[1], transposeA: ta, transposeB: tb)
            if s.relevant(x[0].id) {
                let (product, dcFirst) = shape.gradientA()
                let da = try graph(.matmul(transposeA: product.transposeA, transposeB: product.transposeB), dcFirst ? g : x[1], dcFirst ? x[1] : g)
                try s.accumulate(x[0].id, .tensor(da.id))
            }
            if s.relevant(x[1].id) {
                let (product, dcFirst) = shape.gradientB()
                let db = try graph(.matmul(transposeA: product.transposeA, transposeB: product.transposeB), dcFirst ? g : x[0], dcFirst ? x[0] : g)
                try s.accumulate(x[1].id, .tensor(db.id))
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
