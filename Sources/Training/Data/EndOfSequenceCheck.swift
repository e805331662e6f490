/// Catches the setting in which a fine-tuned model never learns to stop: the padding id is the EOS id and the EOS
/// tokens of the training text carry no label (a collator that masks every pad-id position masks EOS with it;
/// trl #3091, unsloth #416). The model then sees EOS in its inputs but is never trained to predict it.
public enum EndOfSequenceCheck {
    /// A warning when `padID == eosID` and EOS occurs in the training inputs but never as a trained label; nil when
    /// the setting is sound (EOS trained somewhere, a separate pad id, or no EOS in the data at all).
    public static func warning(examples: [TokenizedExample], eosID: Int?, padID: Int32) -> String? {
        guard let eosID, Int32(eosID) == padID else { return nil }
        let eos = Int32(eosID)
        var present = 0, trained = 0
        for e in examples where e.classLabel == nil {
            for (i, id) in e.inputIDs.enumerated() where id == eos {
                present += 1
                if e.labels[i] == eos { trained += 1 }
            }
        }
        guard present > 0, trained == 0 else { return nil }
        return "the pad token is the EOS token (id \(eosID)) and all \(present) EOS tokens in the training data are masked from the loss: "
            + "the model will not learn to stop. Train the EOS label (keep it in the response) or use a separate pad token."
    }
}
