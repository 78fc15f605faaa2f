import AtelierDevices
import AtelierGraph
import AtelierModels
import Foundation

/// What a training run trains and how its data feeds it: a GAN from noise
/// and pictures, or pix2pix from pairs. `TrainingRun` owns the loop, the
/// files and resume; a task owns the model, its batches and its sheet.
protocol RunTask: AnyObject {
    var model: TrainingModel { get }
    var config: ModelConfig { get }
    /// Training samples (pictures or pairs) per epoch.
    var count: Int { get }
    var source: String { get }
    /// Notes for the log (skipped pictures, where the sheet's pictures come from).
    var notes: [String] { get }
    /// One step's inputs for the samples `indices`, drawing what is random
    /// (noise, crops, flips) from `random`.
    func feed(_ indices: ArraySlice<Int>, random: inout RandomGenerator) throws -> (batch: Int, feed: [String: [Float]])
    /// The sheet written after each epoch (the same inputs every time).
    func sheet(seed: UInt64) throws -> PixelImage
    /// Every group's optimizer settings and learning-rate schedule.
    func configure(optimizer: OptimizerSettings, schedule: LearningRateSchedule)
}
