/// Every elementwise op, defined once: its operands, its scalars and its
/// formula. The OpenCL backend plugs the formula into `Kernels/pointwise.cl`;
/// the CPU backend implements the same formula in `CPUPointwise.swift`.
///
/// Operands are passed to `Backend.pointwise` in the order `signature` lists
/// them. Per-element operands hold `count` floats; per-channel operands hold
/// one float per channel of a (outer, channels, inner) layout.
public enum PointwiseOp: Sendable, Hashable {
    /// x -> y
    case activation(Activation)
    /// y, dy -> dx (through the activation's output)
    case activationGradient(Activation)
    /// a, b -> y = a + b
    case add
    /// x -> y = factor * x
    case scale(Float)
    /// x, bias[c] -> y = x + bias[c]
    case biasAdd
    /// x, bias[c] -> y = act(x + bias[c]): a GEMM's or convolution's epilogue.
    case biasActivation(Activation)
    /// v[c] -> y = v[c] for every element of channel c (class labels as
    /// constant planes beside an image).
    case broadcastChannels
    /// logits x, targets t -> dx = scale * (sigmoid(x) - t)
    case bceWithLogitsGradient(scale: Float)
    /// x, t -> dx = 2 * scale * (x - t)
    case mseGradient(scale: Float)
    /// x, t -> dx = scale * sign(x - t)
    case l1Gradient(scale: Float)
    /// x, t -> dx = -scale * t where x * t < 1, else 0
    case hingeGradient(scale: Float)
    /// Over channels: mean, var -> invstd; runningMean, runningVar updated.
    /// `unbias` is count/(count-1): running variance is the unbiased one.
    case batchNormStatistics(momentum: Float, epsilon: Float, unbias: Float)
    /// x, mean[c], invstd[c], gamma[c], beta[c] -> y
    case batchNormApply
    /// The same, then the activation: y = act(gamma * invstd * (x - mean) + beta).
    case batchNormApplyActivation(Activation)
    /// x, runningMean[c], runningVar[c], gamma[c], beta[c] -> y
    case batchNormInference(epsilon: Float)
    /// x, dy, mean[c], invstd[c], gamma[c], dbeta[c], dgamma[c] -> dx,
    /// with `inverseCount` = 1 / (elements per channel).
    case batchNormGradient(inverseCount: Float)
    /// gradient g; parameter p, moments m and v updated in place.
    case adam(AdamStep)

    public enum Role: Sendable, Hashable {
        case input, perChannel, output, inOut
    }

    public struct Operand: Sendable, Hashable {
        public let name: String
        public let role: Role
    }

    public struct Signature: Sendable, Hashable {
        /// Identifies the compiled kernel: same name, same binary.
        public let name: String
        public let operands: [Operand]
        public let scalarNames: [String]
        /// OpenCL C statements assigning every output and in-out operand.
        /// Values have type `T` (float, or a float vector when the kernel
        /// takes several elements at once), so temporaries are declared `T`
        /// and the body uses only operators and builtins defined for both.
        public let body: String
    }

    public var signature: Signature {
        func sig(_ name: String, _ operands: [(String, Role)], _ scalars: [String], _ body: String) -> Signature {
            Signature(name: name, operands: operands.map { Operand(name: $0.0, role: $0.1) },
                      scalarNames: scalars, body: body)
        }
        switch self {
        case .activation(let act):
            return sig("act_\(act.kernelTag)", [("x", .input), ("y", .output)], ["p"],
                       act.forwardBody)
        case .activationGradient(let act):
            return sig("act_grad_\(act.kernelTag)", [("y", .input), ("dy", .input), ("dx", .output)], ["p"],
                       "dx = \(act.gradientExpression);")
        case .add:
            return sig("add", [("a", .input), ("b", .input), ("y", .output)], [], "y = a + b;")
        case .scale:
            return sig("scale", [("x", .input), ("y", .output)], ["factor"], "y = factor * x;")
        case .biasAdd:
            return sig("bias_add", [("x", .input), ("bias", .perChannel), ("y", .output)], [], "y = x + bias;")
        case .broadcastChannels:
            return sig("broadcast", [("v", .perChannel), ("y", .output)], [], "y = (T)(v);")
        case .biasActivation(let act):
            // The activation's body reads `x`: an inner block shadows it with x + bias.
            return sig("bias_act_\(act.kernelTag)", [("x", .input), ("bias", .perChannel), ("y", .output)], ["p"],
                       "{ const T biased = x + bias; { const T x = biased; \(act.forwardBody) } }")
        case .bceWithLogitsGradient:
            return sig("bce_logits_grad", [("x", .input), ("t", .input), ("dx", .output)], ["s"],
                       "dx = ATELIER_BCE_LOGITS_GRAD(x, t, s);")
        case .mseGradient:
            return sig("mse_grad", [("x", .input), ("t", .input), ("dx", .output)], ["s"],
                       "dx = ATELIER_MSE_GRAD(x, t, s);")
        case .l1Gradient:
            return sig("l1_grad", [("x", .input), ("t", .input), ("dx", .output)], ["s"],
                       "dx = ATELIER_L1_GRAD(x, t, s);")
        case .hingeGradient:
            return sig("hinge_grad", [("x", .input), ("t", .input), ("dx", .output)], ["s"],
                       "dx = ATELIER_HINGE_GRAD(x, t, s);")
        case .batchNormStatistics:
            return sig("bn_stats", [("mean", .input), ("var", .input), ("rmean", .inOut), ("rvar", .inOut), ("invstd", .output)],
                       ["momentum", "eps", "unbias"],
                       "invstd = rsqrt(var + eps); rmean = (1.0f - momentum) * rmean + momentum * mean; rvar = (1.0f - momentum) * rvar + momentum * var * unbias;")
        case .batchNormApplyActivation(let act):
            return sig("bn_apply_\(act.kernelTag)", [("x", .input), ("mean", .perChannel), ("invstd", .perChannel), ("gamma", .perChannel), ("beta", .perChannel), ("y", .output)], ["p"],
                       "{ const T normalized = fma(gamma * invstd, x - mean, beta); { const T x = normalized; \(act.forwardBody) } }")
        case .batchNormApply:
            return sig("bn_apply", [("x", .input), ("mean", .perChannel), ("invstd", .perChannel), ("gamma", .perChannel), ("beta", .perChannel), ("y", .output)], [],
                       "y = fma(gamma * invstd, x - mean, beta);")
        case .batchNormInference:
            return sig("bn_infer", [("x", .input), ("rmean", .perChannel), ("rvar", .perChannel), ("gamma", .perChannel), ("beta", .perChannel), ("y", .output)], ["eps"],
                       "y = fma(gamma * rsqrt(rvar + eps), x - rmean, beta);")
        case .batchNormGradient:
            return sig("bn_grad", [("x", .input), ("dy", .input), ("mean", .perChannel), ("invstd", .perChannel), ("gamma", .perChannel), ("dbeta", .perChannel), ("dgamma", .perChannel), ("dx", .output)], ["invm"],
                       "const T xhat = (x - mean) * invstd; dx = gamma * invstd * (dy - invm * dbeta - xhat * invm * dgamma);")
        case .adam:
            return sig("adam", [("g", .input), ("p", .inOut), ("m", .inOut), ("v", .inOut)], ["lr", "b1", "b2", "eps", "c1", "c2"],
                       "m = b1 * m + (1.0f - b1) * g; v = b2 * v + (1.0f - b2) * g * g; p = p - lr * (m * c1) / (sqrt(v * c2) + eps);")
        }
    }

    /// Values for `signature.scalarNames`, in order.
    public var scalars: [Float] {
        switch self {
        case .activation(let act), .activationGradient(let act), .biasActivation(let act),
             .batchNormApplyActivation(let act): [act.parameter]
        case .add, .biasAdd, .broadcastChannels, .batchNormApply: []
        case .scale(let factor): [factor]
        case .bceWithLogitsGradient(let s), .mseGradient(let s), .l1Gradient(let s), .hingeGradient(let s): [s]
        case .batchNormStatistics(let momentum, let epsilon, let unbias): [momentum, epsilon, unbias]
        case .batchNormInference(let epsilon): [epsilon]
        case .batchNormGradient(let inverseCount): [inverseCount]
        case .adam(let step): step.kernelScalars
        }
    }

    func validate() throws {
        switch self {
        case .activation(let act), .activationGradient(let act), .biasActivation(let act),
             .batchNormApplyActivation(let act): try act.validate()
        case .adam(let step): try step.validate()
        default: break
        }
    }
}

extension Activation {
    var kernelTag: String {
        switch self {
        case .identity: "identity"
        case .relu: "relu"
        case .leakyRelu: "leaky_relu"
        case .sigmoid: "sigmoid"
        case .tanh: "tanh"
        }
    }
}

/// One Adam step (bias-corrected, as PyTorch writes it):
/// m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
/// p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
public struct AdamStep: Sendable, Hashable {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    /// 1-based step count t.
    public var step: Int

    public init(learningRate: Float = 2e-4, beta1: Float = 0.5, beta2: Float = 0.999,
                epsilon: Float = 1e-8, step: Int) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.step = step
    }

    /// lr, b1, b2, eps, 1/(1-b1^t), 1/(1-b2^t); the corrections are computed
    /// in double precision, once per step, on the host.
    var kernelScalars: [Float] {
        let t = Double(step)
        let c1 = 1 / (1 - Foundation.pow(Double(beta1), t))
        let c2 = 1 / (1 - Foundation.pow(Double(beta2), t))
        return [learningRate, beta1, beta2, epsilon, Float(c1), Float(c2)]
    }

    func validate() throws {
        guard step >= 1 else { throw ShapeError("Adam step count must start at 1, got \(step)") }
        guard (0..<1).contains(beta1), (0..<1).contains(beta2) else {
            throw ShapeError("Adam betas must lie in [0, 1), got beta1 \(beta1), beta2 \(beta2)")
        }
    }
}

import Foundation
