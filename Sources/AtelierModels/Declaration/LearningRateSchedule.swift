import AtelierDevices
import AtelierGraph
/// Adam's settings for one parameter group.
public struct OptimizerSettings: Codable, Sendable, Equatable {
    /// The (initial) learning rate.
    public var learningRate: Float = 2e-4
    /// Decay of the first moment (DCGAN's 0.5).
    public var beta1: Float = 0.5
    /// Decay of the second moment.
    public var beta2: Float = 0.999
    /// Added to the root of the second moment.
    public var epsilon: Float = 1e-8
    /// Adam with DCGAN's defaults.
    public init(learningRate: Float = 2e-4, beta1: Float = 0.5, beta2: Float = 0.999, epsilon: Float = 1e-8) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
    }
}

/// How a group's learning rate changes from epoch to epoch: a factor on the
/// optimizer's rate, fixed for the whole of an epoch.
public enum LearningRateSchedule: Codable, Sendable, Equatable, CustomStringConvertible {
    /// The same rate throughout.
    case constant
    /// Constant, then down linearly over the last `decayEpochs` of
    /// `totalEpochs` (pytorch-CycleGAN-and-pix2pix's `linear` policy: epoch e,
    /// 0-based, runs at 1 - max(0, e + 1 - (total - decay)) / (decay + 1)).
    case linearDecay(decayEpochs: Int, totalEpochs: Int)
    /// Multiplied by `gamma` every `everyEpochs` epochs.
    case step(everyEpochs: Int, gamma: Float)

    /// The factor during epoch `epoch` (0-based).
    public func factor(epoch: Int) -> Float {
        switch self {
        case .constant:
            return 1
        case .linearDecay(let decay, let total):
            // Past the total (a run continued with more epochs) it stays at zero.
            let constantEpochs = total - decay
            return max(0, 1 - Float(max(0, epoch + 1 - constantEpochs)) / Float(decay + 1))
        case .step(let every, let gamma):
            return Float(Foundation.pow(Double(gamma), Double(epoch / every)))
        }
    }

    /// Refuses a decay longer than the run, a period under one epoch or a gamma that is not positive.
    public func validate() throws {
        switch self {
        case .constant: break
        case .linearDecay(let decay, let total):
            guard decay >= 1, decay <= total else {
                throw ShapeError("a linear learning-rate decay over \(decay) epochs needs 1...\(total) (the run's epochs)")
            }
        case .step(let every, let gamma):
            guard every >= 1, gamma > 0, gamma.isFinite else {
                throw ShapeError("a step learning-rate schedule needs a period of at least 1 epoch and a positive gamma")
            }
        }
    }

    /// The schedule as the log shows it.
    public var description: String {
        switch self {
        case .constant: "constant"
        case .linearDecay(let decay, let total): "constant, then linear to zero over the last \(decay) of \(total) epochs"
        case .step(let every, let gamma): "x\(gamma) every \(every) epochs"
        }
    }
}

import Foundation
