"""The person: the inventory and its questionnaire prompt, answers and subjects files, profiles, their scores
and vectors, the profile prompt, and the memory of answers the chat recalls."""
