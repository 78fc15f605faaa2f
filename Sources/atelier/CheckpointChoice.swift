import Atelier
import Foundation

/// `--checkpoint C [--epoch N]`: the checkpoint itself, or with --epoch the
/// one kept after that epoch (train --keep-checkpoints) beside it.
func chosenCheckpoint(_ checkpoint: String, epoch: Int?) throws -> String {
    guard let epoch else { return checkpoint }
    let run = RunFiles(URL(fileURLWithPath: checkpoint).deletingLastPathComponent().path)
    let kept = run.epochCheckpoint(epoch)
    guard FileManager.default.fileExists(atPath: kept.path) else {
        let epochs = run.keptEpochs()
        throw CommandError("--epoch \(epoch): \(kept.path) does not exist; "
            + (epochs.isEmpty ? "the run kept no epoch's checkpoint (train with --keep-checkpoints N or all)"
                              : "kept epochs: \(epochs.map(String.init).joined(separator: ", "))"))
    }
    return kept.path
}
